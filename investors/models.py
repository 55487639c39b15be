"""What the investor's own page says that admins write: how to pay, per language."""

from django.conf import settings
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


class Invitation(models.Model):
    """A link that lets an investor choose a username and password for their plans: sent by
    email or SMS through the outbox, valid until `expires_at`, used once. Only the token's
    hash is kept here (the link itself is in the outbox row that carries it)."""

    investor = models.ForeignKey(
        "clients.Investor",
        on_delete=models.CASCADE,
        related_name="invitations",
        verbose_name=_("investor"),
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    channel = models.CharField(_("channel"), max_length=16)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("sent by"),
    )
    created_at = models.DateTimeField(_("sent at"))
    expires_at = models.DateTimeField(_("valid until"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return f"{self.investor} · {self.channel} · {self.created_at:%Y-%m-%d}"
