from django.apps import AppConfig


class InstallmentsConfig(AppConfig):
    name = "installments"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Installment plans"
