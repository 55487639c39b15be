"""The contact log: what happened each time a participant contacted an investor, and the
promises to pay it holds, judged from the payments."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from clients.models import Investor
from installments.fields import MONEY
from installments.models import Payment


class ContactOutcome(models.TextChoices):
    REACHED = "reached", _("reached")
    NO_ANSWER = "no_answer", _("no answer")
    PROMISED = "promised", _("promised to pay")
    CANNOT_PAY = "cannot_pay", _("cannot pay")
    WRONG_NUMBER = "wrong_number", _("wrong number")


class PromiseState(models.TextChoices):
    PENDING = "pending", _("promise pending")
    KEPT = "kept", _("promise kept")
    BROKEN = "broken", _("promise broken")


class ContactLogQuerySet(models.QuerySet):
    def with_promise_state(self, today: dt.date) -> ContactLogQuerySet:
        """Annotate `paid_toward_promise` and `promise_state` for `today`, read from payments.

        A promise is kept when the investor's payments received from the day of the contact
        to the promised date (inclusive) add up to the promised amount; it is broken once that
        date has passed without them. Computed in the query, never stored: a payment recorded
        late, for a date inside the window, keeps the promise after the fact.
        """
        money = models.DecimalField(**MONEY)
        paid = (
            Payment.objects.filter(
                plan__investor=models.OuterRef("investor"),
                received_on__gte=models.OuterRef("contacted_on"),
                received_on__lte=models.OuterRef("promised_on"),
            )
            .order_by()
            .values("plan__investor")
            .annotate(total=models.Sum("amount"))
            .values("total")
        )
        return self.annotate(
            paid_toward_promise=models.functions.Coalesce(
                models.Subquery(paid, output_field=money), models.Value(0, output_field=money)
            )
        ).annotate(
            promise_state=models.Case(
                models.When(~models.Q(outcome=ContactOutcome.PROMISED), then=None),
                models.When(
                    paid_toward_promise__gte=models.F("promised_amount"),
                    then=models.Value(PromiseState.KEPT.value),
                ),
                models.When(promised_on__lt=today, then=models.Value(PromiseState.BROKEN.value)),
                default=models.Value(PromiseState.PENDING.value),
                output_field=models.CharField(),
            )
        )


class ContactLogEntry(models.Model):
    """What happened when a participant contacted an investor: the outcome and a note, and for
    a promise to pay, the date and amount promised. Written once, never edited."""

    investor = models.ForeignKey(
        Investor,
        on_delete=models.CASCADE,
        related_name="contact_log",
        verbose_name=_("investor"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("logged by"),
    )
    contacted_at = models.DateTimeField(_("contacted at"))
    # The business date of the contact: a promise's window opens on it.
    contacted_on = models.DateField(_("contacted on"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=ContactOutcome.choices)
    promised_on = models.DateField(_("promised payment date"), null=True, blank=True)
    promised_amount = models.DecimalField(
        _("promised amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    note = models.TextField(_("note"), blank=True)

    objects = ContactLogQuerySet.as_manager()

    class Meta:
        ordering = ["-contacted_at", "-id"]
        verbose_name = _("contact log entry")
        verbose_name_plural = _("contact log")
        constraints = [
            # A promise carries its date and a positive amount; no other outcome does.
            models.CheckConstraint(
                condition=(
                    models.Q(
                        outcome="promised",
                        promised_on__isnull=False,
                        promised_amount__gt=0,
                    )
                    | (
                        ~models.Q(outcome="promised")
                        & models.Q(promised_on__isnull=True, promised_amount__isnull=True)
                    )
                ),
                name="contact_promise_fields",
            ),
        ]
        indexes = [
            # The latest entry per investor (the Structure row, the urgency order) and the
            # investor page's log, newest first.
            models.Index(
                fields=["investor", "-contacted_at", "-id"], name="contact_investor_latest_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.investor} · {self.get_outcome_display()} · {self.contacted_on}"


class HelpRequestQuerySet(models.QuerySet):
    def open(self) -> HelpRequestQuerySet:
        return self.filter(answered_at__isnull=True)


class HelpRequest(models.Model):
    """An investor asked their participant for help with a plan ("Ask my participant for
    help"). One open request per plan: asking again adds to it. Answered by the participant
    (or staff); the time from `asked_at` to `answered_at` is the time to answer."""

    plan = models.ForeignKey(
        "installments.Plan",
        on_delete=models.CASCADE,
        related_name="help_requests",
        verbose_name=_("plan"),
    )
    # The plan's investor, kept beside the plan so the Structure reads "asked for help" per
    # row from one index.
    investor = models.ForeignKey(
        Investor, on_delete=models.CASCADE, related_name="help_requests", verbose_name=_("investor")
    )
    message = models.TextField(_("message"), blank=True)
    contact_via = models.CharField(_("how and when to reach them"), max_length=200, blank=True)
    times_asked = models.PositiveSmallIntegerField(_("times asked"), default=1)
    asked_at = models.DateTimeField(_("asked at"))
    last_asked_at = models.DateTimeField(_("last asked at"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("answered by"),
    )

    objects = HelpRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-asked_at", "-id"]
        verbose_name = _("help request")
        verbose_name_plural = _("help requests")
        constraints = [
            # One open request per plan: a second press finds it (and adds to it) instead of
            # making another, even two presses at once.
            models.UniqueConstraint(
                fields=["plan"],
                condition=models.Q(answered_at__isnull=True),
                name="help_request_one_open_per_plan",
            ),
        ]
        indexes = [
            # The Structure's "asked for help" per row and filter: an investor's open requests.
            models.Index(
                fields=["investor"],
                condition=models.Q(answered_at__isnull=True),
                name="help_request_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.investor} · plan #{self.plan_id} · {self.asked_at:%Y-%m-%d}"

    @property
    def time_to_answer(self) -> dt.timedelta | None:
        return None if self.answered_at is None else self.answered_at - self.asked_at
