"""What the investor's own page says that admins write: how to pay, per language."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PaymentInstructions(models.Model):
    """How to pay, in one language, shown on "My plans". English is the fallback."""

    language = models.CharField(_("language"), max_length=8, unique=True)
    text = models.TextField(
        _("how to pay"),
        help_text=_(
            "Bank details, the reference to write ({reference} is the plan's), whom to ask."
        ),
    )

    class Meta:
        ordering = ["language"]
        verbose_name = _("how to pay")
        verbose_name_plural = _("how to pay")

    def __str__(self) -> str:
        return self.language
