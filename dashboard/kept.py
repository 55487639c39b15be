"""The dashboard's windowed figures, per investor, and kept on the investor's row
(docs/rules.md, Dashboard; docs/performance.md, The dashboard request).

Each investor's part of a day's figures — the money recovered within grace in the last 30
days, the plans that fell overdue in them and were cured, the plans saved and cancelled this
month, the earliest due date they fell overdue on, the activity segment — is one row of
`investor_figures`. The dashboard of a structure is the sum of its investors' rows.

`kept_figures_refresh` writes the rows onto the investors (`Investor.kept_*`) with the day
they were computed for and a stamp naming the segment thresholds and these definitions
(`stamp`): every ten minutes and after the night's scan. A day's first run checks every
investor and rewrites only those whose figures moved; once every row is checked it records
so (`KeptFiguresCheck`), and the rows found unchanged hold for that day too. Every plan write
empties the stamp of the plan's investor in its own transaction (`installments.read_model`),
so a kept row is always that of the data as it is now; the dashboard sums every stored row in
its one pass over the investors, takes away the rows not kept for its day (`is_kept`) and
computes those by the same definition, all in one snapshot (`dashboard.figures.figures`).
The sum is then exactly the figure computed afresh, whenever the refresh last ran, or if it
never did.
"""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db import OperationalError, connection, models, transaction
from django.utils import timezone

from backoffice.lib.dates import business_today
from clients.models import Investor
from installments import overdue, segments
from installments.models import Allocation, Installment, Plan, PlanStatus
from installments.rules import CENT, ZERO

from . import rules
from .models import KeptFiguresCheck

logger = logging.getLogger(__name__)


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
FIELDS = tuple(COLUMNS.values())


# The definitions' version, part of the stamp: raise it with any change to what a kept row
# holds (`investor_figures` and the rules it reads), so rows kept by the old code are not read
# as the new code's after a deploy.
DEFINITIONS = 2


def stamp() -> int:
    """The stamp of rows kept under the segment thresholds in force and these definitions:
    rows computed before an admin changed the thresholds, or by other code, are not read as
    kept."""
    limits = segments.thresholds()
    key = (
        f"{DEFINITIONS}|{limits.recent_days}|{limits.few_max}|{limits.vip_min}|{limits.window_days}"
    )
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


def is_kept(today: dt.date, *, prefix: str = "", checked: bool | None = None) -> models.Q:
    """The investors (across a join with `prefix`) whose kept row holds `today`'s figures:
    kept under today's stamp, and computed for `today`, or for an earlier day when a refresh
    has since checked every row for `today` (`KeptFiguresCheck`; `checked`, when the caller
    has read it in the same snapshot, or else read by the query)."""
    current = stamp()
    on_the_day = models.Q(**{f"{prefix}kept_figures_day": today})
    before = models.Q(**{f"{prefix}kept_figures_day__lt": today})
    since: models.Q
    if checked is None:
        since = on_the_day | (before & models.Q(models.Exists(_checks(today, current))))
    else:
        since = (on_the_day | before) if checked else on_the_day
    return models.Q(**{f"{prefix}kept_figures_stamp": current}) & since


def checked(today: dt.date) -> bool:
    """Whether a refresh has checked every investor for `today` under today's stamp."""
    return _checks(today, stamp()).exists()


def _checks(today: dt.date, current: int) -> models.QuerySet:
    return KeptFiguresCheck.objects.filter(day=today, stamp=current, checked_at__isnull=False)


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
    ids: models.QuerySet | list[int], *, first: dt.date, last: dt.date
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


def _recovered(ids: models.QuerySet | list[int], today: dt.date) -> models.QuerySet:
    return _per_investor(
        recovered_allocations(today).filter(installment__plan__investor__in=ids),
        "installment__plan__investor",
        total=models.Sum("amount"),
    )


def _fell_overdue(ids: models.QuerySet | list[int], today: dt.date) -> models.QuerySet:
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


def _cancelled_this_month(ids: models.QuerySet | list[int], today: dt.date) -> models.QuerySet:
    plans = Plan.objects.filter(
        investor__in=ids, status=PlanStatus.CANCELLED, cancelled_on__gte=today.replace(day=1)
    )
    return _per_investor(plans, "investor", n=models.Count("pk"))


def stored(values) -> InvestorFigures:
    """An investor's figures as their row stores them: `values` of the `COLUMNS`, in order."""
    return InvestorFigures(**dict(zip(FIELDS, values, strict=True)))


NONE = InvestorFigures(
    recovered=ZERO, fell_due=None, fell=0, cured=0, saved=0, cancelled_this_month=0, segment=None
)


def investor_figures(
    ids: models.QuerySet | list[int], today: dt.date
) -> dict[int, InvestorFigures]:
    """The investors of `ids` (a queryset of investor ids, or a list of a few) with a part in
    `today`'s figures, each with their part (`NONE` for the others). Four grouped statements,
    one per kind of row read (allocations, installments, cancelled plans, payments and
    purchases), each planned for the rows it reads."""
    if isinstance(ids, models.QuerySet):
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
    """Check every investor whose row is not kept for `today` and write `today`'s figures on
    those whose figures differ (or whose stamp a write emptied), `chunk` investors (by id) at
    a time, each chunk in its own transaction; the number of investors written. Once every
    such row is checked, records the check (`KeptFiguresCheck`): the rows found unchanged then
    hold for `today` without being rewritten, so a day's refresh writes only the rows whose
    figures moved, not the whole table. Idempotent: run again, it finds nothing to do (but
    the rows a write emptied meanwhile).

    A run records that it started (an unchecked `KeptFiguresCheck`) before it writes, and
    stops, recording nothing more, once a run for a later day has started: each chunk looks
    after locking its rows, so a row a later run checked is never rewritten for an earlier
    day. Two runs for the same day write the same figures.

    Each chunk locks the rows it checks first, skipping the rows a write holds: a write that
    committed before is read by the chunk's statements (READ COMMITTED gives each a fresh
    snapshot), one that locks after waits and then empties the stamp the chunk wrote, and one
    that holds its row is left to empty it. The rows skipped are then taken one at a time,
    each in a transaction of its own that waits for it at most `HELD_WAIT` (holding no other
    lock outside a caller's transaction, it can't be part of a deadlock); a row still held
    leaves the check unrecorded, and the next run checks again. Never for a day after
    tomorrow (a start recorded for it would hold off the refreshes of every day before)."""
    current = stamp()
    if today > business_today() + dt.timedelta(days=1):
        # A start recorded for a day to come would hold off every refresh until that day.
        logger.warning("kept figures: not refreshed for %s, a day to come", today)
        return 0
    if _later_runs(today, current).exists():
        logger.info("kept figures: not refreshed for %s, a later day's refresh started", today)
        return 0
    KeptFiguresCheck.objects.get_or_create(day=today, stamp=current)
    ids = list(Investor.objects.exclude(is_kept(today)).order_by("pk").values_list("pk", flat=True))
    written, held = 0, []
    try:
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            done, skipped = _keep(part[0], part[-1], today, current)
            written += done
            held += skipped
        still_held = held[HELD_WAITED:]
        for pk in held[:HELD_WAITED]:
            try:
                done, skipped = _keep(pk, pk, today, current, wait=True)
            except OperationalError as error:
                if getattr(error.__cause__, "pgcode", None) != LOCK_NOT_AVAILABLE:
                    raise
                done, skipped = 0, [pk]  # still held after HELD_WAIT
            written += done
            still_held += skipped
    except _LaterRun:
        return written
    if not still_held:
        checks = KeptFiguresCheck.objects.filter(day=today, stamp=current)
        checks.update(checked_at=timezone.now())
        KeptFiguresCheck.objects.filter(day__lt=today).delete()
    return written


# How long the refresh waits for a row a write held during its chunk, and for how many.
HELD_WAIT = "2s"
HELD_WAITED = 100
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's error when lock_timeout runs out


class _LaterRun(Exception):
    """A refresh for a later day has started: this one stops."""


def _later_runs(today: dt.date, current: int) -> models.QuerySet:
    return KeptFiguresCheck.objects.filter(stamp=current, day__gt=today)


def _keep(
    first: int, last: int, today: dt.date, current: int, *, wait: bool = False
) -> tuple[int, list[int]]:
    """Check the investors from `first` to `last` (by id) not kept for `today` and not held by
    a write (with `wait`, waiting for them at most `HELD_WAIT`), and write `today`'s figures
    on those whose kept row differs: the number written, and the ids held by a write (not
    checked). Raises `_LaterRun`, writing nothing, when a refresh for a later day started."""
    with transaction.atomic():
        stale = Investor.objects.filter(pk__gte=first, pk__lte=last).exclude(is_kept(today))
        stale = stale.order_by("pk")
        if wait and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{HELD_WAIT}'")
        listed = set() if wait else set(stale.values_list("pk", flat=True))
        locked = stale.select_for_update(no_key=True, skip_locked=not wait)
        rows = list(locked.values_list("pk", "kept_figures_stamp", "kept_figures_day", *COLUMNS))
        held = sorted(listed - {row[0] for row in rows})
        if not rows:
            return 0, held
        if wait and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = DEFAULT")
        # Looked for after the lock: a later run that checked these rows has started before.
        if _later_runs(today, current).exists():
            raise _LaterRun
        # The locked rows by id: `stale` read again could lose some (a run for the same day
        # recording its check meanwhile), which would then be kept with no figures.
        found = investor_figures([row[0] for row in rows], today)
        changed = []
        for pk, kept_stamp, kept_day, *values in rows:
            now = found.get(pk, NONE)
            if kept_stamp != current or kept_day is None or stored(values) != now:
                changed.append((pk, now))
        _write(changed, current, today)
        return len(changed), held


def _write(rows: list[tuple[int, InvestorFigures]], kept_stamp: int, day: dt.date) -> None:
    """Write the rows onto the investors with the stamp and the day: on PostgreSQL one UPDATE
    from arrays (`unnest`), elsewhere (SQLite: the demo and the tests) Django's bulk update."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        investors = [
            Investor(
                pk=pk,
                kept_figures_stamp=kept_stamp,
                kept_figures_day=day,
                **{column: getattr(row, value) for column, value in COLUMNS.items()},
            )
            for pk, row in rows
        ]
        fields = [*COLUMNS, "kept_figures_stamp", "kept_figures_day"]
        Investor.objects.bulk_update(investors, fields, batch_size=500)
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
        + ", kept_figures_stamp = %s, kept_figures_day = %s FROM unnest(%s::bigint[], "
        + ", ".join(f"%s::{kind}[]" for kind in types.values())
        + ") AS v(ref, "
        + ", ".join(types)
        + ") WHERE i.id = v.ref"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [kept_stamp, day, *arrays])
