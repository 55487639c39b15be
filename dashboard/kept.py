"""The dashboard's windowed figures, per investor, and kept on the investor's row
(docs/rules.md, Dashboard; docs/performance.md, The dashboard request).

Each investor's part of a day's figures — the money recovered within grace in the last 30
days, the plans that fell overdue in them and were cured, the plans saved and cancelled this
month, the earliest due date they fell overdue on, the activity segment — is one row of
`investor_figures`. The dashboard of a structure is the sum of its investors' rows.

`kept_figures_refresh` writes the rows of a day onto the investors (`Investor.kept_*`) with a
stamp naming the day, the segment thresholds and these definitions (`stamp`): every ten
minutes (the first run of a day keeps every investor), and after the night's scan for the
rows its cancellations emptied. Every plan write empties the stamp of the plan's investor in
its own transaction (`installments.read_model`), so a kept row is always that of the data as
it is now; the dashboard sums the rows kept for its day (`is_kept`) in its one pass over the
investors and computes the others by the same definition, all in one snapshot
(`dashboard.figures.figures`). The sum is then exactly the figure computed afresh, whenever
the refresh last ran, or if it never did.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db import connection, models, transaction

from clients.models import Investor
from installments import overdue, segments
from installments.models import Allocation, Installment, Plan, PlanStatus
from installments.rules import CENT, ZERO

from . import rules


@dataclass(frozen=True)
class InvestorFigures:
    """One investor's part of a day's windowed figures."""

    recovered: Decimal  # money recovered within grace in the last 30 days
    fell_due: dt.date | None  # the earliest due date they fell overdue on in the last 30 days
    fell: int  # plans that fell overdue in the last 30 days
    cured: int  # of those, back on track today
    saved: int  # plans that fell overdue this month, back on track today
    cancelled_this_month: int  # plans cancelled since the 1st
    segment: str | None  # the activity matrix's cell, None without a payment or a plan


# The kept columns, by the field of `InvestorFigures` each keeps.
COLUMNS = {
    "kept_recovered": "recovered",
    "kept_fell_due": "fell_due",
    "kept_fell_plans": "fell",
    "kept_cured_plans": "cured",
    "kept_saved_plans": "saved",
    "kept_cancelled_this_month": "cancelled_this_month",
    "kept_segment": "segment",
}


# The definitions' version, part of the stamp: raise it with any change to what a kept row
# holds (`investor_figures` and the rules it reads), so rows kept by the old code are not read
# as the new code's after a deploy.
DEFINITIONS = 1


def stamp(today: dt.date) -> int:
    """The stamp of rows kept for `today` under the segment thresholds in force and these
    definitions: rows computed for another day, before an admin changed the thresholds or by
    other code are not read as kept."""
    limits = segments.thresholds()
    key = (
        f"{DEFINITIONS}|{today.isoformat()}|{limits.recent_days}|{limits.few_max}|"
        f"{limits.vip_min}|{limits.window_days}"
    )
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


def is_kept(today: dt.date, *, prefix: str = "") -> models.Q:
    """The investors (across a join with `prefix`) whose kept row holds `today`'s figures."""
    return models.Q(**{f"{prefix}kept_figures_stamp": stamp(today)})


# ---------------------------------------------------------------------------- definitions


def recovered_allocations(today: dt.date) -> models.QuerySet:
    """The allocations recovered within grace in the last 30 days: of payments received then,
    to installments already overdue on the day received. A payment to a cancelled plan posts
    only when received in time (docs/rules.md, Automatic restore), so all of it was paid
    before the grace deadline."""
    # The rule's SQL twin with the day received as the day asked (a column, not a date).
    received = models.F("payment__received_on")
    paid_late = overdue.is_overdue(received, field="installment__due_date")  # type: ignore[arg-type]
    return Allocation.objects.filter(
        paid_late,
        payment__received_on__gte=rules.recent_start(today),
        payment__received_on__lte=today,
    )


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


def _per_investor(queryset: models.QuerySet, investor: str, **aggregates) -> models.QuerySet:
    """(investor id, <aggregates>) rows of `queryset` grouped per investor (`investor`: its
    path)."""
    return (
        queryset.order_by()
        .annotate(ref=models.F(investor))
        .values("ref")
        .annotate(**aggregates)
        .values_list("ref", *aggregates)
    )


def _recovered(ids: models.QuerySet, today: dt.date) -> models.QuerySet:
    return _per_investor(
        recovered_allocations(today).filter(installment__plan__investor__in=ids),
        "installment__plan__investor",
        total=models.Sum("amount"),
    )


def _fell_overdue(ids: models.QuerySet, today: dt.date) -> models.QuerySet:
    """The installments that fell overdue in the last 30 days or this month, grouped per
    client: the earliest such due date of the 30 days, the plans that fell in them and were
    cured, and the plans saved this month. A plan is back on track when neither cancelled nor
    overdue."""
    first, last = rules.fell_overdue_window(today)
    month = today.replace(day=1) - dt.timedelta(days=1)  # fell overdue on the 1st or later
    recent = models.Q(due_date__gte=first)
    overdue_now = models.Q(plan__status=PlanStatus.ACTIVE) & overdue.is_overdue(
        today, field="plan__oldest_unpaid_due_date"
    )
    on_track = ~models.Q(plan__status=PlanStatus.CANCELLED) & models.Q(
        models.lookups.Exact(overdue.flag(overdue_now), False)
    )
    return _per_investor(
        fell_overdue_installments(ids, first=min(first, month), last=last),
        "plan__investor",
        due=models.Min("due_date", filter=recent),
        fell=models.Count("plan", distinct=True, filter=recent),
        cured=models.Count("plan", distinct=True, filter=recent & on_track),
        saved=models.Count("plan", distinct=True, filter=models.Q(due_date__gte=month) & on_track),
    )


def _cancelled_this_month(ids: models.QuerySet, today: dt.date) -> models.QuerySet:
    plans = Plan.objects.filter(
        investor__in=ids, status=PlanStatus.CANCELLED, cancelled_on__gte=today.replace(day=1)
    )
    return _per_investor(plans, "investor", n=models.Count("pk"))


NONE = InvestorFigures(
    recovered=ZERO, fell_due=None, fell=0, cured=0, saved=0, cancelled_this_month=0, segment=None
)


def investor_figures(ids: models.QuerySet, today: dt.date) -> dict[int, InvestorFigures]:
    """The investors of `ids` (a queryset of investor ids) with a part in `today`'s figures,
    each with their part (`NONE` for the others). Four grouped statements, one per kind of
    row read (allocations, installments, cancelled plans, payments and purchases), each
    planned for the rows it reads."""
    ids = ids.order_by()
    parts: dict[int, dict] = {}
    for pk, total in _recovered(ids, today):
        # SQLite sums decimals as floats: back to cents.
        parts.setdefault(pk, {})["recovered"] = Decimal(str(total)).quantize(CENT)
    for pk, due, fell, cured, saved in _fell_overdue(ids, today):
        parts.setdefault(pk, {}).update(fell_due=due, fell=fell, cured=cured, saved=saved)
    for pk, n in _cancelled_this_month(ids, today):
        parts.setdefault(pk, {})["cancelled_this_month"] = n
    cells, params = segments.segment_cells_sql(ids, today=today)
    with connection.cursor() as cursor:
        cursor.execute(cells, params)
        for pk, cell in cursor.fetchall():
            parts.setdefault(pk, {})["segment"] = cell
    return {pk: replace(NONE, **part) for pk, part in parts.items()}


# ---------------------------------------------------------------------------- keeping


def kept_figures_refresh(*, today: dt.date, chunk: int = 50_000) -> int:
    """Keep `today`'s figures on every investor whose row is not kept for today, `chunk`
    investors (by id) at a time, each chunk in its own transaction; the number of investors
    written. Idempotent: run again, it finds nothing to do (but the rows a write emptied
    meanwhile).

    Each chunk locks the rows it keeps first, skipping the rows a write holds: a write that
    committed before is read by the chunk's statements (READ COMMITTED gives each a fresh
    snapshot), one that locks after waits and then empties the stamp the chunk wrote, and one
    that holds its row is left to empty it (the next run keeps it). Never waiting, the refresh
    is never part of a deadlock, whatever order the writers lock investors in."""
    ids = list(Investor.objects.exclude(is_kept(today)).order_by("pk").values_list("pk", flat=True))
    written = 0
    for start in range(0, len(ids), chunk):
        written += _keep(ids[start], ids[min(start + chunk, len(ids)) - 1], today)
    return written


def _keep(first: int, last: int, today: dt.date) -> int:
    """Keep `today`'s figures on the investors from `first` to `last` (by id) not kept for it
    and not held by a write."""
    with transaction.atomic():
        stale = Investor.objects.filter(pk__gte=first, pk__lte=last).exclude(is_kept(today))
        locked = stale.order_by("pk").select_for_update(no_key=True, skip_locked=True)
        ids = list(locked.values_list("pk", flat=True))
        if not ids:
            return 0
        # May read rows emptied since the lock, never written here: only the locked are.
        found = investor_figures(stale.values("pk"), today)
        _write([(pk, found.get(pk, NONE)) for pk in ids], stamp(today))
        return len(ids)


def _write(rows: list[tuple[int, InvestorFigures]], kept_stamp: int) -> None:
    """Write the rows onto the investors with the stamp: on PostgreSQL one UPDATE from arrays
    (`unnest`), elsewhere (SQLite: the demo and the tests) Django's bulk update."""
    if connection.vendor != "postgresql":
        investors = [
            Investor(
                pk=pk,
                kept_figures_stamp=kept_stamp,
                **{column: getattr(row, value) for column, value in COLUMNS.items()},
            )
            for pk, row in rows
        ]
        Investor.objects.bulk_update(investors, [*COLUMNS, "kept_figures_stamp"], batch_size=500)
        return
    types = {
        "recovered": "numeric",
        "fell_due": "date",
        "fell": "int",
        "cured": "int",
        "saved": "int",
        "cancelled_this_month": "int",
        "segment": "varchar",
    }
    arrays = [[pk for pk, _ in rows]] + [
        [getattr(row, value) for _, row in rows] for value in types
    ]
    sql = (
        "UPDATE clients_investor AS i SET "
        + ", ".join(f"{column} = v.{value}" for column, value in COLUMNS.items())
        + ", kept_figures_stamp = %s FROM unnest(%s::bigint[], "
        + ", ".join(f"%s::{kind}[]" for kind in types.values())
        + ") AS v(ref, "
        + ", ".join(types)
        + ") WHERE i.id = v.ref"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [kept_stamp, *arrays])
