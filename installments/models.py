from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from . import overdue, rules
from .choices import (
    BONUS_KINDS,
    CreditKind,
    PlanAction,
    PlanEventKind,
    PlanStatus,
    PromotionKind,
)
from .fields import FractionField, money_field


class PurchaseStage(models.Model):
    """A period in which shares sell at one price. A plan locks the price of the stage in force
    on the day it was bought."""

    name = models.CharField(_("name"), max_length=100)
    share_price = money_field(_("share price"), validators=[MinValueValidator(Decimal("0.01"))])
    starts_on = models.DateField(_("starts on"), unique=True)

    class Meta:
        verbose_name = _("purchase stage")
        verbose_name_plural = _("purchase stages")
        ordering = ["-starts_on"]

    def __str__(self) -> str:
        return f"{self.name} ({self.share_price} from {self.starts_on})"


class Package(models.Model):
    name = models.CharField(_("name"), max_length=100)
    shares = models.PositiveIntegerField(
        _("shares"),
        validators=[MinValueValidator(1), MaxValueValidator(rules.MAX_PACKAGE_SHARES)],
    )
    price = money_field(_("price"), validators=[MinValueValidator(Decimal("0.01"))])
    installment_count = models.PositiveSmallIntegerField(
        _("installment count"), validators=[MinValueValidator(1)]
    )
    final_payment_fraction = FractionField(
        _("final-payment fraction"),
        default=rules.format_fraction(rules.DEFAULT_FINAL_PAYMENT_FRACTION),
        help_text=_("Share of the package credited by the final payment, e.g. 2/3 or 0.5."),
    )
    is_active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        verbose_name = _("package")
        verbose_name_plural = _("packages")
        ordering = ["price", "name"]

    def __str__(self) -> str:
        return self.name


def _on_hold(today: dt.date) -> models.Q:
    # `Plan.is_on_hold` in SQL.
    return models.Q(status=PlanStatus.ACTIVE, hold_until__gte=today)


class PlanQuerySet(models.QuerySet):
    def with_overdue(self, today: dt.date) -> PlanQuerySet:
        """Annotate, in the same query, the overdue state on `today`, read from the data:
        `overdue`, `overdue_amount`, `oldest_overdue_due_date`, `grace_deadline`, `days_left`,
        and `on_hold`.

        Correct whether or not any scan has run. Only active plans are overdue: a cancelled
        plan is past saving and a completed one owes nothing.
        """
        overdue_now = models.Q(status=PlanStatus.ACTIVE) & overdue.is_overdue(today)
        return self.annotate(
            overdue=overdue.flag(overdue_now),
            oldest_overdue_due_date=models.Case(
                models.When(overdue_now, then=models.F("oldest_unpaid_due_date")),
                default=None,
                output_field=models.DateField(),
            ),
            overdue_amount=models.Case(
                models.When(
                    overdue_now,
                    then=overdue.overdue_amount(
                        Installment.objects.filter(plan=models.OuterRef("pk")), today, group="plan"
                    ),
                ),
                default=models.Value(rules.ZERO),
                output_field=overdue.MONEY_FIELD,
            ),
            # No deadline at all when nothing is overdue.
            grace_deadline=models.Case(
                models.When(overdue_now, then=overdue.grace_deadline()),
                default=None,
                output_field=models.DateField(),
            ),
            on_hold=overdue.flag(_on_hold(today)),
        ).annotate(days_left=overdue.days_left("grace_deadline", today))

    def listed(self, today: dt.date) -> PlanQuerySet:
        """Plans as lists show them: with their investor, package and overdue state."""
        return self.select_related("investor", "package").with_overdue(today)

    def past_grace(self, scan_date: dt.date) -> PlanQuerySet:
        """Active plans that the scan of `scan_date` cancels (`rules.scan_cancels`): grace
        deadline before it.

        One range read of the partial index `plan_active_grace_idx`, whatever the table's size:
        the scan's cost follows the plans that change that night.
        """
        return self.alias(scan_grace_deadline=overdue.grace_deadline()).filter(
            status=PlanStatus.ACTIVE, scan_grace_deadline__lt=scan_date
        )

    def on_hold(self, today: dt.date) -> PlanQuerySet:
        return self.filter(_on_hold(today))

    def with_shares_credited(self) -> PlanQuerySet:
        """`shares_credited`: the sum of the plan's share ledger, in the same query."""
        credited = (
            ShareLedgerEntry.objects.filter(plan=models.OuterRef("pk"))
            .order_by()
            .values("plan")
            .annotate(total=models.Sum("shares"))
            .values("total")
        )
        return self.annotate(shares_credited=Coalesce(models.Subquery(credited), 0))


class Plan(models.Model):
    investor = models.ForeignKey(
        "clients.Investor",
        on_delete=models.PROTECT,
        related_name="plans",
        verbose_name=_("investor"),
    )
    package = models.ForeignKey(
        Package, on_delete=models.PROTECT, related_name="plans", verbose_name=_("package")
    )
    stage = models.ForeignKey(
        PurchaseStage, on_delete=models.PROTECT, related_name="plans", verbose_name=_("stage")
    )
    # Terms copied at purchase: editing the package later never changes a sold plan.
    share_price = money_field(_("locked share price"))
    shares = models.PositiveIntegerField(_("shares"))
    price = money_field(_("price"))
    final_payment_fraction = FractionField(_("final-payment fraction"))
    purchased_on = models.DateField(_("purchased on"))
    first_due_date = models.DateField(_("first due date"))

    status = models.CharField(
        _("status"), max_length=16, choices=PlanStatus.choices, default=PlanStatus.ACTIVE
    )
    # Derived from the installments and rewritten in the same transaction as every payment:
    # a function of the money received, never of the clock, so it cannot go stale. Overdue
    # state, grace deadline and days left are computed from it for the date asked.
    oldest_unpaid_due_date = models.DateField(_("oldest unpaid due date"), null=True, blank=True)
    completed_on = models.DateField(_("completed on"), null=True, blank=True)
    cancelled_on = models.DateField(_("cancelled on"), null=True, blank=True)
    hold_until = models.DateField(
        _("on hold until"),
        null=True,
        blank=True,
        help_text=_("No cancellation and no reminders until this date (inclusive)."),
    )
    hold_reason = models.TextField(_("hold reason"), blank=True)
    grace_extended_to = models.DateField(
        _("grace extended to"),
        null=True,
        blank=True,
        help_text=_("Set by a restore: the plan cannot be cancelled again before this date."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PlanQuerySet.as_manager()

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["-id"]
        indexes = [
            # The Structure's and the reminders' "active plans overdue on D": a date range.
            models.Index(
                fields=["oldest_unpaid_due_date"],
                name="plan_active_oldest_unpaid_idx",
                condition=models.Q(status="active"),
            ),
            # The scan: grace deadline before the scan date (the expression past_grace reads).
            models.Index(
                overdue.grace_deadline(),
                name="plan_active_grace_idx",
                condition=models.Q(status="active"),
            ),
            # An investor's plans, and the Structure's overdue read per investor.
            models.Index(fields=["investor", "status"], name="plan_investor_status_idx"),
            # The scan's notices and the digest's plans cancelled in the last few days.
            models.Index(
                fields=["cancelled_on"],
                name="plan_cancelled_on_idx",
                condition=models.Q(status="cancelled"),
            ),  # The scan's reminder candidates: the holds that ended since the last scan
            # (reminders.scan.candidate_plan_ids).
            models.Index(
                fields=["hold_until"],
                name="plan_active_hold_idx",
                condition=models.Q(status="active", hold_until__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Plan #{self.pk} · {self.investor} · {self.package}"

    def is_on_hold(self, today: dt.date) -> bool:
        """A hold only means something while the plan can still be cancelled: a plan paid
        off or cancelled during its hold is no longer on hold (`PlanQuerySet.on_hold`)."""
        return (
            self.status == PlanStatus.ACTIVE
            and self.hold_until is not None
            and self.hold_until >= today
        )

    @cached_property
    def shares_credited(self) -> int:
        """The shares credited so far: the sum of the share ledger, which is the truth. The
        `with_shares_credited` annotation or a prefetched ledger spare the query."""
        if "ledger" in getattr(self, "_prefetched_objects_cache", {}):
            return sum(entry.shares for entry in self.ledger.all())
        return self.ledger.aggregate(total=Coalesce(models.Sum("shares"), 0))["total"]

    def actions(self, today: dt.date) -> list[PlanAction]:
        """What an admin may do to the plan on `today`; the services refuse the rest."""
        allowed = []
        if self.status != PlanStatus.COMPLETED:
            allowed.append(PlanAction.RECORD_PAYMENT)
        if self.status == PlanStatus.ACTIVE:
            allowed += [PlanAction.ADD_SHARES, PlanAction.HOLD]
        if self.is_on_hold(today):
            allowed.append(PlanAction.RELEASE_HOLD)
        if self.status == PlanStatus.CANCELLED:
            allowed.append(PlanAction.RESTORE)
        return allowed


class InstallmentQuerySet(models.QuerySet):
    def unpaid(self) -> InstallmentQuerySet:
        return self.filter(paid_on__isnull=True)

    def overdue_on(self, today: dt.date) -> InstallmentQuerySet:
        return self.filter(overdue.overdue_installment(today))


class Installment(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="installments")
    number = models.PositiveSmallIntegerField(_("number"))
    due_date = models.DateField(_("due date"))
    amount = money_field(_("amount"))
    # The sum of this installment's allocations, kept in the payment's transaction.
    paid_amount = money_field(_("paid amount"), default=Decimal("0.00"))
    paid_on = models.DateField(_("paid on"), null=True, blank=True)

    objects = InstallmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("installment")
        verbose_name_plural = _("installments")
        ordering = ["plan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="installment_plan_number_uq"),
            models.CheckConstraint(
                condition=models.Q(paid_amount__gte=0)
                & models.Q(paid_amount__lte=models.F("amount")),
                name="installment_paid_within_amount",
            ),
        ]
        indexes = [
            # Overdue amounts (unpaid installments due before today) for the plan API, the scan
            # and the Structure's rows, read from the index alone on PostgreSQL.
            models.Index(
                fields=["plan", "due_date"],
                include=["amount", "paid_amount"],
                name="installment_unpaid_owed_idx",
                condition=models.Q(paid_on__isnull=True),
            ),
            # The dashboard's installments not paid by their due date, by due date.
            models.Index(
                fields=["due_date"],
                include=["plan"],
                name="installment_fell_overdue_idx",
                condition=models.Q(paid_on__isnull=True)
                | models.Q(paid_on__gt=models.F("due_date")),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.number} due {self.due_date}: {self.amount}"

    @property
    def unpaid(self) -> Decimal:
        return self.amount - self.paid_amount


class Payment(models.Model):
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="payments")
    amount = money_field(_("amount"))
    received_on = models.DateField(_("received on"))
    reference = models.CharField(
        _("reference"),
        max_length=100,
        help_text=_("The bank's or gateway's reference. Posting it twice never posts twice."),
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-received_on", "-id"]
        indexes = [
            # The scan's reminder candidates: the plans paid since the last scan
            # (reminders.scan.candidate_plan_ids).
            models.Index(fields=["recorded_at"], name="payment_recorded_at_idx"),
        ]
        constraints = [
            # The idempotency guarantee itself: a second post of a reference cannot insert.
            models.UniqueConstraint(fields=["reference"], name="payment_reference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.amount} on {self.received_on}"


class Allocation(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    installment = models.ForeignKey(
        Installment, on_delete=models.PROTECT, related_name="allocations"
    )
    amount = money_field(_("amount"))

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["installment__number"]

    def __str__(self) -> str:
        return f"{self.amount} → installment #{self.installment.number}"


class ShareLedgerEntry(models.Model):
    """A credit of shares to a plan. The ledger is the truth about shares credited."""

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="ledger")
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="credits"
    )
    kind = models.CharField(_("reason"), max_length=32, choices=CreditKind.choices)
    shares = models.PositiveIntegerField(_("shares"))
    credited_on = models.DateField(_("credited on"))
    promotion = models.ForeignKey(
        "Promotion", null=True, blank=True, on_delete=models.PROTECT, related_name="credits"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["plan", "id"]
        verbose_name = _("share ledger entry")
        verbose_name_plural = _("share ledger")
        constraints = [
            # A bonus is credited once per plan, whatever retries or races happen.
            models.UniqueConstraint(
                fields=["plan", "kind"],
                condition=models.Q(kind__in=[k.value for k in BONUS_KINDS]),
                name="ledger_bonus_once_per_plan",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.shares} shares · {self.get_kind_display()}"


class PromotionQuerySet(models.QuerySet):
    def in_force(self, kind: str, on: dt.date) -> PromotionQuerySet:
        return self.filter(kind=kind, starts_on__lte=on).filter(
            models.Q(ends_on__isnull=True) | models.Q(ends_on__gte=on)
        )


class Promotion(models.Model):
    """A bonus of a percentage of the plan's shares for a qualifying payment received in the
    promotion's period. Where two promotions of a kind overlap, the larger one applies."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=32, choices=PromotionKind.choices)
    percentage = models.DecimalField(
        _("bonus %"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
        default=rules.ON_TIME_BONUS_PERCENT,
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)

    objects = PromotionQuerySet.as_manager()

    class Meta:
        verbose_name = _("promotion")
        verbose_name_plural = _("promotions")
        ordering = ["kind", "-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="promotion_period_ordered",
                violation_error_message=_("The promotion must end on or after its start."),
            ),
            models.CheckConstraint(
                condition=models.Q(percentage__gt=0) & models.Q(percentage__lte=100),
                name="promotion_percentage_range",
                violation_error_message=_("The bonus must be between 0 and 100 percent."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.percentage}%)"


class PlanEvent(models.Model):
    """The audit trail: every status change and every admin action on a plan, with who,
    when and why. Written by the services, never edited."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("event"), max_length=32, choices=PlanEventKind.choices)
    at = models.DateTimeField(_("at"), auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
        help_text=_("Empty when the system acted (the nightly scan, an automatic restore)."),
    )
    reason = models.TextField(_("reason"), blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        ordering = ["plan", "at", "id"]
        indexes = [
            # The scan's reminder candidates: the plans restored, held, released, given
            # shares, created or paid since the last scan (reminders.scan.candidate_plan_ids).
            models.Index(fields=["at"], name="planevent_at_idx"),
        ]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {timezone.localtime(self.at):%Y-%m-%d %H:%M}"
