"""The dashboard's figures for one structure or the whole book, as of a business day, read
from the plans, payments and contact log (docs/rules.md, Dashboard).

The overdue state comes from `installments.read_model` and `installments.overdue` only, so
`clients` and `overdue_clients` are the Structure's own counts for the same day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce

from clients.models import Investor, InvestorQuerySet
from installments import overdue, segments
from installments.models import Allocation, Installment, Plan, PlanStatus
from installments.read_model import with_overdue_amount
from installments.rules import BUCKETS, CENT, ZERO
from structure.models import ContactLogEntry, ContactOutcome, PromiseState

from . import rules


@dataclass
class Bucket:
    bucket: str
    clients: int = 0
    amount: Decimal = ZERO


@dataclass
class Figures:
    as_of: dt.date
    clients: int
    overdue_clients: int
    overdue_by_bucket: list[Bucket]
    invested: Decimal
    cancelled: Decimal
    cancelled_share: Decimal | None
    recovered_in_grace_30d: Decimal
    cure_rate_30d: Decimal | None
    promises: dict[str, int]
    first_contact_hours_median: Decimal | None
    first_contact_within_10h_share: Decimal | None
    segments: dict[str, int]
    saved_this_month: int
    cancelled_this_month: int
    trend: list[dict] = field(default_factory=list)


def scope_of(root: Investor | None) -> InvestorQuerySet:
    """The investors behind the figures: `root`'s structure, or the whole book for None."""
    if root is None:
        return Investor.objects.all()
    return Investor.objects.in_structure_of(root)


def figures(*, root: Investor | None, today: dt.date) -> Figures:
    scope = scope_of(root)
    ids = scope.values("pk")
    counts = client_counts(scope, today=today)
    buckets = overdue_by_bucket(scope, today=today, counts=counts)
    money = {name: Decimal(counts[name]).quantize(CENT) for name in ("invested", "cancelled")}
    fell = fell_overdue(ids, today=today)
    hours, within = first_contact(ids, fell.since)
    return Figures(
        as_of=today,
        clients=counts["clients"],
        overdue_clients=sum(b.clients for b in buckets),
        overdue_by_bucket=buckets,
        invested=money["invested"],
        cancelled=money["cancelled"],
        cancelled_share=rules.share(money["cancelled"], money["invested"]),
        recovered_in_grace_30d=recovered_in_grace(ids, today=today),
        cure_rate_30d=rules.share(fell.cured, fell.fell),
        promises=promises(ids, today=today),
        first_contact_hours_median=hours,
        first_contact_within_10h_share=within,
        segments=segment_counts(scope, today=today),
        saved_this_month=fell.saved,
        cancelled_this_month=cancelled_this_month(ids, today=today),
    )


def client_counts(scope: InvestorQuerySet, *, today: dt.date) -> dict:
    """One pass over the investors' read model: `clients`, the overdue clients of each bucket
    (`installments.rules.bucket_of`, in SQL by its twin `installments.overdue.in_bucket`),
    `invested` and `cancelled` (the price of all the plans and of the cancelled ones). It
    names only the path index's columns, so PostgreSQL answers it from that index alone."""
    money = overdue.MONEY_FIELD
    return scope.aggregate(
        clients=models.Count("*"),
        invested=Coalesce(models.Sum("plans_price"), models.Value(ZERO), output_field=money),
        cancelled=Coalesce(models.Sum("cancelled_price"), models.Value(ZERO), output_field=money),
        **{
            name: models.Count("oldest_unpaid_due_date", filter=overdue.in_bucket(name, today))
            for name in BUCKETS
        },
    )


def overdue_by_bucket(
    scope: InvestorQuerySet, *, today: dt.date, counts: dict[str, int] | None = None
) -> list[Bucket]:
    """The overdue clients by bucket (from `client_counts`, unless given), and the overdue
    amount of each bucket: the overdue clients' amounts as the Structure shows them (the
    read model's kept amount while it holds, `installments.read_model.with_overdue_amount`),
    summed per bucket in one grouped query over the investors."""
    if counts is None:
        counts = client_counts(scope, today=today)
    is_overdue = overdue.is_overdue(today)
    overdue_clients = scope.filter(is_overdue).annotate(overdue=overdue.flag(is_overdue))
    amounts = (
        with_overdue_amount(overdue_clients, today=today)
        .order_by()
        .annotate(bucket=overdue.bucket(today))
        .values("bucket")
        .annotate(total=models.Sum("overdue_amount"))
        .values_list("bucket", "total")
    )
    buckets = {name: Bucket(name, clients=counts[name]) for name in BUCKETS}
    for name, total in amounts:
        # SQLite sums decimals as floats: back to cents.
        buckets[name].amount = Decimal(total).quantize(CENT)
    return list(buckets.values())


def recovered_allocations(today: dt.date) -> models.QuerySet:
    """The allocations recovered within grace in the last 30 days: of payments received then,
    to installments already overdue on the day received. A payment to a cancelled plan posts
    only when received in time (docs/rules.md, Automatic restore), so all of it was paid
    before the grace deadline."""
    paid_late = overdue.is_overdue(models.F("payment__received_on"), field="installment__due_date")
    return Allocation.objects.filter(
        paid_late,
        payment__received_on__gte=rules.recent_start(today),
        payment__received_on__lte=today,
    )


def recovered_in_grace(ids: models.QuerySet, *, today: dt.date) -> Decimal:
    """Overdue money paid in the last 30 days (`recovered_allocations`), summed."""
    total = (
        recovered_allocations(today)
        .filter(installment__plan__investor__in=ids)
        .aggregate(total=Coalesce(models.Sum("amount"), models.Value(ZERO)))
    )
    # SQLite sums decimals as floats: back to cents.
    return Decimal(total["total"]).quantize(CENT)


def fell_overdue_installments(
    ids: models.QuerySet, *, first: dt.date, last: dt.date
) -> models.QuerySet:
    """Installments that fell overdue (the day after their due date) with a due date from
    `first` to `last`: not paid on or before their due date, of a plan not cancelled before
    they fell due. `installment_fell_overdue_idx` holds exactly these, by due date."""
    not_paid_by_due = models.Q(paid_on__isnull=True) | models.Q(paid_on__gt=models.F("due_date"))
    cancelled_before = models.Q(plan__cancelled_on__lte=models.F("due_date"))
    return Installment.objects.filter(
        not_paid_by_due,
        plan__investor__in=ids,
        due_date__gte=first,
        due_date__lte=last,
    ).exclude(cancelled_before)


@dataclass
class FellOverdue:
    """What the installments that fell overdue lately tell, read once for three figures."""

    # Each client who fell overdue in the last 30 days: their earliest such due date.
    since: dict[int, dt.date]
    fell: int  # plans that fell overdue in the last 30 days
    cured: int  # of those, back on track today
    saved: int  # plans that fell overdue this month, back on track today


def fell_overdue(ids: models.QuerySet, *, today: dt.date) -> FellOverdue:
    """The installments that fell overdue in the last 30 days or this month, read once and
    grouped per client: the first contact's starting days, the cure rate's plans and the
    plans saved this month. A plan is back on track when neither cancelled nor overdue."""
    first, last = rules.fell_overdue_window(today)
    month = today.replace(day=1) - dt.timedelta(days=1)  # fell overdue on the 1st or later
    recent = models.Q(due_date__gte=first)
    overdue_now = models.Q(plan__status=PlanStatus.ACTIVE) & overdue.is_overdue(
        today, field="plan__oldest_unpaid_due_date"
    )
    on_track = ~models.Q(plan__status=PlanStatus.CANCELLED) & models.Q(
        models.lookups.Exact(overdue.flag(overdue_now), False)
    )
    rows = (
        fell_overdue_installments(ids, first=min(first, month), last=last)
        .order_by()
        .values("plan__investor")
        .annotate(
            due=models.Min("due_date", filter=recent),
            fell=models.Count("plan", distinct=True, filter=recent),
            cured=models.Count("plan", distinct=True, filter=recent & on_track),
            saved=models.Count(
                "plan", distinct=True, filter=models.Q(due_date__gte=month) & on_track
            ),
        )
        .values_list("plan__investor", "due", "fell", "cured", "saved")
    )
    found = FellOverdue(since={}, fell=0, cured=0, saved=0)
    for pk, due, fell, cured, saved in rows:
        if due is not None:
            found.since[pk] = due
        found.fell += fell
        found.cured += cured
        found.saved += saved
    return found


def promises(ids: models.QuerySet, *, today: dt.date) -> dict[str, int]:
    """Every promise to pay logged for the scope, by its state today."""
    states = (
        ContactLogEntry.objects.filter(investor__in=ids, outcome=ContactOutcome.PROMISED)
        .with_promise_state(today)
        .values_list("promise_state", flat=True)
    )
    counts = {state.value: 0 for state in PromiseState}
    for state in states:
        counts[state] += 1
    return counts


def first_contact(
    ids: models.QuerySet, fell: dict[int, dt.date]
) -> tuple[Decimal | None, Decimal | None]:
    """For each client of `ids` who fell overdue in the last 30 days (`fell`: their earliest
    such due date), hours from the start of the day they fell overdue to the first contact logged
    after: the median over those contacted, and the share of all of them contacted within
    10 h."""
    zone = settings.BUSINESS_TIME_ZONE
    since = {
        pk: dt.datetime.combine(due + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        for pk, due in fell.items()
    }
    if not since:
        return None, None
    # The scope's contacts since the earliest start, by the scope's subquery: a list of tens
    # of thousands of ids costs more to send and plan than the statement costs to run.
    contacts = ContactLogEntry.objects.filter(
        investor__in=ids, contacted_at__gte=min(since.values())
    ).values_list("investor_id", "contacted_at")
    first: dict[int, dt.datetime] = {}
    for pk, at in contacts:
        start = since.get(pk)
        if start is not None and at >= start and (pk not in first or at < first[pk]):
            first[pk] = at
    hours = [rules.hours_between(since[pk], at) for pk, at in first.items()]
    within = sum(1 for h in hours if h <= rules.FIRST_CONTACT_TARGET_HOURS)
    return rules.median_hours(hours), rules.share(within, len(since))


def segment_counts(scope: InvestorQuerySet, *, today: dt.date) -> dict[str, int]:
    return segments.segment_counts(scope, today=today)


def cancelled_this_month(ids: models.QuerySet, *, today: dt.date) -> int:
    """Plans cancelled since the 1st of the month."""
    first = today.replace(day=1)
    return Plan.objects.filter(
        investor__in=ids, status=PlanStatus.CANCELLED, cancelled_on__gte=first
    ).count()
