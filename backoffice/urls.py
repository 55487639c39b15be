from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from backoffice.api import api_urlpatterns

admin.site.site_header = "Installment back office"
admin.site.site_title = "Back office admin"

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("api/", include(api_urlpatterns())),
]
