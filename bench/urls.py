"""The product's routes, plus the benchmark's trivial endpoint and stand-in Structure view."""

from django.urls import path

from backoffice.urls import urlpatterns as product_urlpatterns

from .views import StructureStandInView, hello

urlpatterns = [
    path("bench/hello/", hello, name="bench-hello"),
    path("bench/structure/", StructureStandInView.as_view(), name="bench-structure"),
    *product_urlpatterns,
]
