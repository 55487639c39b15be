from django.urls import path

from . import views

urlpatterns = [
    path("", views.structure, name="structure"),
    path("export.csv", views.structure_export, name="structure-export"),
    path("investors/<int:pk>/", views.investor_detail, name="structure-investor"),
    path("investors/<int:pk>/contacts/", views.contact_log_add, name="structure-contact"),
    path(
        "investors/<int:pk>/help-requests/<int:request_pk>/answer/",
        views.help_request_answer_view,
        name="structure-help-answer",
    ),
]
