"""Reads of the participant's Structure, shared by the pages, the CSV export and the API.

Everything a row shows is annotated in the one query that lists the rows (overdue state,
latest contact, promise state, status, urgency), so a page costs the same number of queries
whatever its size, and filtering or ordering on any of it happens in the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import models
from django.db.models.functions import Coalesce, Greatest
from django.utils.translation import gettext_lazy as _

from backoffice.lib.db import AddDays, DaysBetween, date_value
from installments import rules
from installments.models import MONEY, Installment, Plan, PlanStatus

from .models import ContactLogEntry, Investor, InvestorQuerySet, PromiseState

# Days left at or under which a client is in their last days (the summary, the row status).
LAST_DAYS = 3


class RowStatus(models.TextChoices):
    PAST_DEADLINE = "past_deadline", _("past the deadline")
    LAST_DAYS = "last_days", _("last days")
    OVERDUE = "overdue", _("overdue")
    ON_TRACK = "on_track", _("on track")
    NO_ACTIVE_PLAN = "no_active_plan", _("no active plan")


def overdue_investor_ids(today: dt.date) -> models.QuerySet:
    """Ids of investors with an active plan overdue on `today`.

    Read from the partial index of active plans by oldest unpaid due date: at 100,000
    investors this narrows the Structure to the overdue few before any per-row work.
    """
    return Plan.objects.filter(status=PlanStatus.ACTIVE, oldest_unpaid_due_date__lt=today).values(
        "investor_id"
    )


def structure_root_of(user) -> Investor | None:
    """The participant a signed-in user is, if any."""
    if not user.is_authenticated:
        return None
    return Investor.objects.filter(user_id=user.pk).first()


def request_structure_root(request) -> Investor | None:
    """`structure_root_of(request.user)`, read once per request: the view's scope and the
    filter's root come from the same row and the same query."""
    if not hasattr(request, "_structure_root"):
        request._structure_root = structure_root_of(request.user)
    return request._structure_root


def with_overdue_aggregated(queryset: InvestorQuerySet, today: dt.date) -> InvestorQuerySet:
    """The values of `InvestorQuerySet.with_overdue(today)` (`oldest_overdue_due_date`,
    `grace_deadline`, `overdue_amount`, `overdue`, `days_left`), read in one pass.

    Aggregates over one LEFT JOIN of the plans and their installments, grouped by investor,
    instead of correlated subqueries: an annotation that refers to another (days left to the
    grace deadline, the status and the urgency to both) repeats that subquery wherever it
    appears, which at 10,000 overdue investors cost seconds; the aggregates cost one join.
    MIN is blind to the plan rows the installment join repeats; each installment appears once.
    """
    overdue_plan = models.Q(
        plans__status=PlanStatus.ACTIVE, plans__oldest_unpaid_due_date__lt=today
    )
    natural = AddDays("plans__oldest_unpaid_due_date", rules.GRACE_DAYS)
    plan_grace = Greatest(
        natural,
        Coalesce("plans__hold_until", natural),
        Coalesce("plans__grace_extended_to", natural),
    )
    owed = models.Q(
        plans__status=PlanStatus.ACTIVE,
        plans__installments__paid_on__isnull=True,
        plans__installments__due_date__lt=today,
    )
    money = models.DecimalField(**MONEY)
    return queryset.annotate(
        oldest_overdue_due_date=models.Min("plans__oldest_unpaid_due_date", filter=overdue_plan),
        grace_deadline=models.Min(plan_grace, filter=overdue_plan, output_field=models.DateField()),
        overdue_amount=Coalesce(
            models.Sum(
                models.F("plans__installments__amount")
                - models.F("plans__installments__paid_amount"),
                filter=owed,
                output_field=money,
            ),
            models.Value(Decimal("0.00")),
            output_field=money,
        ),
    ).annotate(
        overdue=models.ExpressionWrapper(
            models.Q(oldest_overdue_due_date__isnull=False), output_field=models.BooleanField()
        ),
        days_left=DaysBetween("grace_deadline", date_value(today)),
    )


def structure_investors(
    queryset: InvestorQuerySet, *, root: Investor, today: dt.date
) -> InvestorQuerySet:
    """`root`'s structure within `queryset`, each row annotated for `today` with `level`, the
    overdue state (`overdue`, `overdue_amount`, `oldest_overdue_due_date`, `grace_deadline`,
    `days_left`), the latest contact (`contact_outcome`, `contact_at`, `contact_promised_on`,
    `contact_promised_amount`, `promise_state`), `status` and `urgency`."""
    latest = ContactLogEntry.objects.filter(investor=models.OuterRef("pk")).order_by(
        "-contacted_at", "-id"
    )
    latest_promise = latest.with_promise_state(today)
    active_plan = Plan.objects.filter(investor=models.OuterRef("pk"), status=PlanStatus.ACTIVE)
    rows = with_overdue_aggregated(queryset.in_structure_of(root).with_level(root), today).annotate(
        contact_outcome=models.Subquery(latest.values("outcome")[:1]),
        contact_at=models.Subquery(latest.values("contacted_at")[:1]),
        contact_promised_on=models.Subquery(latest.values("promised_on")[:1]),
        contact_promised_amount=models.Subquery(
            latest.values("promised_amount")[:1],
            output_field=models.DecimalField(**MONEY),
        ),
        promise_state=models.Subquery(
            latest_promise.values("promise_state")[:1], output_field=models.CharField()
        ),
        has_active_plan=models.Exists(active_plan),
    )
    return rows.annotate(
        status=models.Case(
            models.When(overdue=True, days_left__lt=0, then=models.Value(RowStatus.PAST_DEADLINE)),
            models.When(
                overdue=True, days_left__lte=LAST_DAYS, then=models.Value(RowStatus.LAST_DAYS)
            ),
            models.When(overdue=True, then=models.Value(RowStatus.OVERDUE)),
            models.When(has_active_plan=True, then=models.Value(RowStatus.ON_TRACK)),
            default=models.Value(RowStatus.NO_ACTIVE_PLAN),
            output_field=models.CharField(),
        ),
        # Who to call first: a broken promise (the client said they would pay and did not)
        # goes back to the top; then the overdue by days left; a promise still pending
        # (and due before the grace deadline) waits below them; then everyone else.
        urgency=models.Case(
            models.When(overdue=True, promise_state=PromiseState.BROKEN, then=0),
            models.When(
                overdue=True,
                promise_state=PromiseState.PENDING,
                contact_promised_on__lte=models.F("grace_deadline"),
                then=2,
            ),
            models.When(overdue=True, then=1),
            default=3,
            output_field=models.IntegerField(),
        ),
    )


URGENCY_ORDER = (
    models.F("urgency").asc(),
    models.F("days_left").asc(nulls_last=True),
    models.F("overdue_amount").desc(),
)


@dataclass(frozen=True)
class StructureSummary:
    clients: int
    overdue_clients: int
    overdue_money: Decimal
    last_days_clients: int


def structure_summary(*, root: Investor, today: dt.date) -> StructureSummary:
    """The numbers at the top of the Structure page, for the whole structure: two queries,
    the second over the overdue clients only."""
    structure = Investor.objects.in_structure_of(root)
    clients = structure.count()
    overdue = (
        structure.filter(pk__in=overdue_investor_ids(today))
        .with_overdue(today)
        .aggregate(
            clients=models.Count("pk"),
            money=Coalesce(
                models.Sum("overdue_amount"),
                models.Value(Decimal("0.00")),
                output_field=models.DecimalField(**MONEY),
            ),
            last_days=models.Count("pk", filter=models.Q(days_left__lte=LAST_DAYS)),
        )
    )
    return StructureSummary(
        clients=clients,
        overdue_clients=overdue["clients"],
        overdue_money=overdue["money"],
        last_days_clients=overdue["last_days"],
    )


def investor_plans(investor: Investor, *, today: dt.date) -> models.QuerySet:
    """The investor's plans with their overdue state, schedule, payments and share ledger
    prefetched (a fixed number of queries whatever the number of plans)."""
    from installments.models import Payment, ShareLedgerEntry

    return (
        Plan.objects.filter(investor=investor)
        .select_related("package")
        .with_overdue(today)
        .annotate(
            shares_credited=Coalesce(
                models.Subquery(
                    ShareLedgerEntry.objects.filter(plan=models.OuterRef("pk"))
                    .order_by()
                    .values("plan")
                    .annotate(total=models.Sum("shares"))
                    .values("total")
                ),
                0,
            )
        )
        .prefetch_related(
            models.Prefetch("installments", queryset=Installment.objects.order_by("number")),
            models.Prefetch("payments", queryset=Payment.objects.order_by("-received_on", "-id")),
            models.Prefetch(
                "ledger",
                queryset=ShareLedgerEntry.objects.select_related("payment").order_by("id"),
            ),
        )
        .order_by("-id")
    )


def investor_contact_log(investor: Investor, *, today: dt.date) -> models.QuerySet:
    return (
        ContactLogEntry.objects.filter(investor=investor)
        .select_related("author")
        .with_promise_state(today)
        .order_by("-contacted_at", "-id")
    )
