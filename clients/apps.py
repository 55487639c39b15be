from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClientsConfig(AppConfig):
    name = "clients"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Investors and participants")
