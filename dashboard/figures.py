"""The dashboard's figures for one structure or the whole book, as of a business day, read
from the plans, payments and contact log (docs/rules.md, Dashboard).

The overdue state comes from `installments.read_model` and `installments.overdue` only, so
`clients` and `overdue_clients` are the Structure's own counts for the same day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connections, models, transaction
from django.db.models.functions import Coalesce

from clients.models import Investor, InvestorQuerySet
from installments import overdue
from installments.activity import Segment
from installments.read_model import with_overdue_amount
from installments.rules import BUCKETS, CENT, ZERO
from structure.models import ContactLogEntry, ContactOutcome, PromiseState

from . import kept, rules


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


# The price PostgreSQL puts on reading a page out of order, for the snapshot's statements
# only. The default (4) is a spinning disk's; the indexes the dashboard reads are in memory.
# Under the default the planner prices the one pass's index-only scan of the head's figures
# index (`investor_head_figures_idx`, 2,000 pages at full scale) above a parallel scan of the
# investors' heap (11,000 pages), which takes 1.6 times as long (docs/performance.md, seventh
# round).
RANDOM_PAGE_COST = 1.1


@contextmanager
def one_snapshot(using: str = "default") -> Iterator[None]:
    """Read in one snapshot: on PostgreSQL, outside a transaction, a read-only REPEATABLE READ
    transaction, so the rows kept for the day and the rows computed afresh are told apart once
    (a refresh or a write committing between two statements would otherwise count a client
    twice, or not at all). Inside a caller's transaction, or on SQLite (one writer at a time),
    the caller's reads."""
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
                f"SET LOCAL random_page_cost = {RANDOM_PAGE_COST}"
            )
        yield


def figures(*, root: Investor | None, today: dt.date) -> Figures:
    """Every figure of `root`'s structure (the whole book for None) on `today`, read in one
    snapshot."""
    with one_snapshot():
        return _figures(root, today)


def _figures(root: Investor | None, today: dt.date) -> Figures:
    scope = scope_of(root)
    ids = scope.values("pk")
    counts = client_counts(scope, today=today)
    buckets = overdue_by_bucket(scope, today=today, counts=counts)
    money = {name: Decimal(counts[name]).quantize(CENT) for name in ("invested", "cancelled")}
    window = windowed(scope, today=today, counts=counts)
    hours, within = first_contact(ids, today=today, window=window, checked=counts["checked"])
    return Figures(
        as_of=today,
        clients=counts["clients"],
        overdue_clients=sum(b.clients for b in buckets),
        overdue_by_bucket=buckets,
        invested=money["invested"],
        cancelled=money["cancelled"],
        cancelled_share=rules.share(money["cancelled"], money["invested"]),
        recovered_in_grace_30d=window.recovered,
        cure_rate_30d=rules.share(window.cured, window.fell),
        promises=promises(ids, today=today),
        first_contact_hours_median=hours,
        first_contact_within_10h_share=within,
        segments=window.segments,
        saved_this_month=window.saved,
        cancelled_this_month=window.cancelled_this_month,
    )


# What the pass counts rows with: COUNT(*) or COUNT(1), never the id, so that it names only
# columns of the head's figures index (`investor_head_figures_idx`) and reads it alone.
ROW = models.Value(1)


def client_counts(scope: InvestorQuerySet, *, today: dt.date) -> dict:
    """One pass over the investors' read model and kept figures: `clients`, the overdue
    clients of each bucket (`installments.rules.bucket_of`, in SQL by its twin
    `installments.overdue.in_bucket`) and the kept part of their amounts, `invested` and
    `cancelled` (the price of all the plans and of the cancelled ones), the sums of the
    figures stored on them (`stored_sums`) and how many are not kept for the day
    (`dashboard.kept`): one pass over the structure's investors; and `checked`, whether every
    row was checked for the day (read first, in the caller's snapshot)."""
    money = overdue.MONEY_FIELD
    holds = overdue.kept_amount_holds(today)
    checked = kept.checked(today)
    kept_today = kept.is_kept(today, checked=checked)

    counts = scope.aggregate(
        clients=models.Count("*"),
        invested=Coalesce(models.Sum("plans_price"), models.Value(ZERO), output_field=money),
        cancelled=Coalesce(models.Sum("cancelled_price"), models.Value(ZERO), output_field=money),
        **{
            name: models.Count("oldest_unpaid_due_date", filter=overdue.in_bucket(name, today))
            for name in BUCKETS
        },
        **{
            f"{name}_kept_amount": models.Sum(
                "kept_overdue_amount", filter=overdue.in_bucket(name, today) & holds
            )
            for name in BUCKETS
        },
        amounts_not_kept=models.Count(ROW, filter=overdue.is_overdue(today) & ~holds),
        not_kept=models.Count(ROW, filter=~kept_today),
        emptied=models.Count(ROW, filter=models.Q(kept_figures_stamp__isnull=True)),
        **stored_sums(),
    )
    counts["checked"] = checked
    return counts


def stored_sums() -> dict:
    """The sums of the figures stored on the investors (`Investor.kept_*`), kept for the day
    or not: `windowed` takes away those of the rows not kept, which are few, so the one pass
    sums without testing each row (half its cost at 100,000 clients)."""

    def total(column: str, output=None) -> Coalesce:
        zero = models.Value(ZERO if output else 0)
        return Coalesce(models.Sum(column), zero, output_field=output or models.IntegerField())

    return {
        "recovered": total("kept_recovered", overdue.MONEY_FIELD),
        "fell": total("kept_fell_plans"),
        "cured": total("kept_cured_plans"),
        "saved": total("kept_saved_plans"),
        "cancelled_this_month": total("kept_cancelled_this_month"),
        "fell_clients": models.Count("kept_fell_due"),
        **{
            f"segment_{cell}": models.Count(ROW, filter=models.Q(kept_segment=cell))
            for cell in Segment.ALL
        },
    }


def overdue_by_bucket(
    scope: InvestorQuerySet, *, today: dt.date, counts: dict | None = None
) -> list[Bucket]:
    """The overdue clients by bucket (from `client_counts`, unless given), and the overdue
    amount of each bucket: the overdue clients' amounts as the Structure shows them. The read
    model's kept amounts that hold today are summed by `client_counts`; the clients whose kept
    amount no longer holds (`installments.read_model.with_overdue_amount`) are summed here,
    in one grouped query, when there are any."""
    if counts is None:
        counts = client_counts(scope, today=today)
    buckets = {name: Bucket(name, clients=counts[name]) for name in BUCKETS}
    totals = {name: counts[f"{name}_kept_amount"] or ZERO for name in BUCKETS}
    if counts["amounts_not_kept"]:
        is_overdue = overdue.is_overdue(today)
        not_kept = scope.filter(is_overdue).exclude(overdue.kept_amount_holds(today))
        amounts = (
            with_overdue_amount(not_kept.annotate(overdue=overdue.flag(is_overdue)), today=today)
            .order_by()
            .annotate(bucket=overdue.bucket(today))
            .values("bucket")
            .annotate(total=models.Sum("overdue_amount"))
            .values_list("bucket", "total")
        )
        for name, total in amounts:
            totals[name] += Decimal(str(total))
    for name, total in totals.items():
        # SQLite sums decimals as floats: back to cents.
        buckets[name].amount = Decimal(str(total)).quantize(CENT)
    return list(buckets.values())


# The most rows not kept that `windowed` lists and computes afresh by their ids; more (a day
# before its first refresh) are read by the scope's own condition.
LISTED_MAX = 5_000


@dataclass
class Windowed:
    """The figures of the last 30 days and this month: the sums of the investors' rows kept
    for the day (`client_counts`), and of the rest, computed afresh (`live`)."""

    recovered: Decimal
    fell: int  # plans that fell overdue in the last 30 days
    cured: int  # of those, back on track today
    saved: int  # plans that fell overdue this month, back on track today
    cancelled_this_month: int
    fell_clients: int  # clients who fell overdue in the last 30 days
    segments: dict[str, int]
    live: dict[int, kept.InvestorFigures]


def windowed(scope: InvestorQuerySet, *, today: dt.date, counts: dict) -> Windowed:
    """The figures kept for `today`: `client_counts`' sums of the stored figures less those of
    the rows not kept for `today`; and those rows computed by the same definition
    (`dashboard.kept.investor_figures`) and added."""
    found = Windowed(
        recovered=Decimal(str(counts["recovered"])),
        fell=counts["fell"],
        cured=counts["cured"],
        saved=counts["saved"],
        cancelled_this_month=counts["cancelled_this_month"],
        fell_clients=counts["fell_clients"],
        segments={cell: counts[f"segment_{cell}"] for cell in Segment.ALL},
        live={},
    )
    if counts["not_kept"]:
        if counts["not_kept"] == counts["emptied"]:
            # Only rows a write emptied since the last refresh: read off their partial index.
            not_kept = scope.filter(kept_figures_stamp__isnull=True)
        else:
            not_kept = scope.exclude(kept.is_kept(today, checked=counts["checked"]))
        not_kept = not_kept.order_by()
        if counts["not_kept"] <= LISTED_MAX:
            # Listed once with what they store, and read by id by the four statements, each
            # of which would otherwise find them in the structure again.
            rows = list(not_kept.values_list("pk", *kept.COLUMNS))
            for _, *values in rows:
                _add(found, kept.stored(values), -1)
            found.live = kept.investor_figures([row[0] for row in rows], today)
        else:
            stored = not_kept.aggregate(**stored_sums())
            found.recovered -= Decimal(str(stored["recovered"]))
            for name in ("fell", "cured", "saved", "cancelled_this_month", "fell_clients"):
                setattr(found, name, getattr(found, name) - stored[name])
            for cell in Segment.ALL:
                found.segments[cell] -= stored[f"segment_{cell}"]
            found.live = kept.investor_figures(not_kept.values("pk"), today)
    for row in found.live.values():
        _add(found, row, 1)
    # SQLite sums decimals as floats: back to cents.
    found.recovered = found.recovered.quantize(CENT)
    return found


def _add(found: Windowed, row: kept.InvestorFigures, sign: int) -> None:
    """Add one investor's part to `found` (`sign` 1), or take it away (-1)."""
    found.recovered += sign * row.recovered
    found.fell += sign * row.fell
    found.cured += sign * row.cured
    found.saved += sign * row.saved
    found.cancelled_this_month += sign * row.cancelled_this_month
    found.fell_clients += sign * (row.fell_due is not None)
    if row.segment is not None:
        found.segments[row.segment] += sign


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
    ids: models.QuerySet, *, today: dt.date, window: Windowed, checked: bool | None = None
) -> tuple[Decimal | None, Decimal | None]:
    """For each client of `ids` who fell overdue in the last 30 days (from the day after their
    earliest such due date, kept or computed afresh in `window`), hours from the start of the
    day they fell overdue to the first contact logged after: the median over those
    contacted, and the share of all of them contacted within 10 h."""
    if not window.fell_clients:
        return None, None
    zone = settings.BUSINESS_TIME_ZONE

    def start(due: dt.date) -> dt.datetime:
        return dt.datetime.combine(due + dt.timedelta(days=1), dt.time(), tzinfo=zone)

    # The scope's contacts since the window's first day, with the client's kept due date, by
    # the scope's subquery: a list of tens of thousands of ids costs more to send and plan
    # than the statement costs to run.
    first_due = rules.fell_overdue_window(today)[0]
    kept_due = models.Case(
        models.When(
            kept.is_kept(today, prefix="investor__", checked=checked),
            then="investor__kept_fell_due",
        ),
        default=None,
        output_field=models.DateField(),
    )
    contacts = (
        ContactLogEntry.objects.filter(investor__in=ids, contacted_at__gte=start(first_due))
        .annotate(kept_due=kept_due)
        .values_list("investor_id", "contacted_at", "kept_due")
    )
    first: dict[int, dt.datetime] = {}
    since: dict[int, dt.datetime] = {}
    for pk, at, kept_due in contacts:
        due = window.live[pk].fell_due if pk in window.live else kept_due
        if due is None:
            continue
        since[pk] = start(due)
        if at >= since[pk] and (pk not in first or at < first[pk]):
            first[pk] = at
    hours = [rules.hours_between(since[pk], at) for pk, at in first.items()]
    within = sum(1 for h in hours if h <= rules.FIRST_CONTACT_TARGET_HOURS)
    return rules.median_hours(hours), rules.share(within, window.fell_clients)
