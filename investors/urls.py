from django.urls import path

from . import views

urlpatterns = [
    path("", views.my_plans_page, name="my-plans"),
    path("plans/<int:plan_pk>/help/", views.ask_for_help, name="my-plans-help"),
    path("preferences/", views.preferences, name="my-preferences"),
    path("invitation/<str:token>/", views.invitation, name="my-invitation"),
]
