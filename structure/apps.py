from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StructureConfig(AppConfig):
    """The people-facing floor: the participant's Structure, investor pages, the contact log,
    the CSV export, the investor admin and the demo data. It reads every app below it and
    nothing imports it but the URLconf and the API router."""

    name = "structure"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = _("Structure and contact log")
