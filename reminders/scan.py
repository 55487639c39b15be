"""The nightly scan: cancel what ran out of grace, then queue the reminders.

`scan()` is the one entry point: the beat task and `manage.py scan_overdue` both call it.

1. Catch up: each night since the last completed scan that has no completed run is scanned
   late, for cancellation only (so a plan is cancelled on the date it would have been);
   reminders are queued once, for today, and only those still true today.
2. Cancel: `installments.services.plans_cancel_expired` (set-based, row-locked).
3. Queue: the plans that may need a reminder tonight are the night's changes, read off
   indexes (`candidate_plan_ids`: a level's first day, a payment or an admin act since the
   last scan, a hold that ended, a recent cancellation), so the cost follows the changes, not
   the number of plans inside the windows. They are split into chunks of plan ids,
   recorded as ScanChunk rows, and handed to the workers by id after commit (plus one
   chunk for the participants' digests). More workers, more chunks at once.
   A chunk inserts its reminder rows with ON CONFLICT DO NOTHING against the outbox's unique
   constraints, so a chunk run twice, a rescan or two scans at once never make a second copy.
   The last chunk to finish closes the ScanRun.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import mail_admins
from django.db import connection, models, transaction

from clients.selectors import ancestor_paths, participants_above
from installments.models import Installment, Payment, Plan, PlanEvent, PlanStatus
from installments.services import Cancellation, plans_cancel_expired

from .models import (
    CHANNEL_ADDRESS,
    CadenceLevel,
    ChannelOptOut,
    Recipient,
    Reminder,
    ScanChunk,
    ScanRun,
    Trigger,
)
from .services import (
    CANCELLED_NOTICE_DAYS,
    dispatch_on_commit,
    not_before,
    windows_by_recipient,
)

logger = logging.getLogger(__name__)

DAY = dt.timedelta(days=1)
DUE_SOON_DAYS = 3


@dataclass
class ScanReport:
    scan_date: dt.date
    run: ScanRun | None
    cancellations: list[Cancellation] = field(default_factory=list)
    caught_up: list[ScanRun] = field(default_factory=list)
    reminders: int = 0  # queued (dry run: that would be considered)


# ---------------------------------------------------------------------------- the scan


def missed_dates(scan_date: dt.date) -> list[dt.date]:
    """Nights before `scan_date` with no completed scan since the last completed one, at
    most REMINDER_CATCH_UP_DAYS back. None before the first scan ever."""
    last = (
        ScanRun.objects.filter(finished_at__isnull=False, scan_date__lt=scan_date)
        .aggregate(last=models.Max("scan_date"))
        .get("last")
    )
    if last is None:
        return []
    first = max(last + DAY, scan_date - dt.timedelta(days=settings.REMINDER_CATCH_UP_DAYS))
    return [first + k * DAY for k in range((scan_date - first).days)]


def scan(
    *, scan_date: dt.date, now: dt.datetime, trigger: str = "schedule", dry_run: bool = False
) -> ScanReport:
    report = ScanReport(scan_date=scan_date, run=None)
    missed = missed_dates(scan_date)
    for night in missed:
        cancelled = plans_cancel_expired(scan_date=night, dry_run=dry_run)
        report.cancellations += cancelled
        if not dry_run:
            report.caught_up.append(
                ScanRun.objects.create(
                    scan_date=night,
                    trigger=trigger,
                    caught_up=True,
                    plans_cancelled=len(cancelled),
                    finished_at=now,
                )
            )
    cancelled = plans_cancel_expired(scan_date=scan_date, dry_run=dry_run)
    report.cancellations += cancelled
    plan_ids = candidate_plan_ids(scan_date)
    if dry_run:
        levels = list(CadenceLevel.objects.active())
        rows = reminder_rows(plan_ids, scan_date=scan_date, now=now, levels=levels)
        rows += digest_rows(scan_date=scan_date, since=scan_date, now=now, levels=levels)
        report.reminders = len(rows)
        return report

    size = settings.REMINDER_CHUNK_SIZE
    slices = [plan_ids[start : start + size] for start in range(0, len(plan_ids), size)]
    with transaction.atomic():
        run = ScanRun.objects.create(
            scan_date=scan_date,
            trigger=trigger,
            plans_cancelled=len(cancelled),
            chunks_total=len(slices) + 1,
            cancelled_since=missed[0] if missed else scan_date,
        )
        chunks = [ScanChunk(run=run, number=0, is_digest=True)] + [
            ScanChunk(run=run, number=n, plan_ids=ids) for n, ids in enumerate(slices, start=1)
        ]
        ScanChunk.objects.bulk_create(chunks)
        chunk_ids = list(run.chunks.order_by("number").values_list("pk", flat=True))
        transaction.on_commit(lambda: dispatch_chunks(chunk_ids))
    report.run = run
    logger.info(
        "scan %s: %d plan(s) cancelled, %d plan(s) in %d chunk(s) for reminders",
        scan_date,
        len(report.cancellations),
        len(plan_ids),
        len(slices),
    )
    return report


@dataclass(frozen=True)
class Scope:
    """What tonight's reminders may have changed since the last scan that queued reminders.

    `previous` is that scan (None before the first one); `exact_dates` the oldest unpaid
    due dates that put a plan on a level's first day on some night since it (missed nights
    included, kept only where a level is still true today); `touched_since` the moment from
    which payments and audit entries count as changes; `hold_ended` the range of `hold_until`
    of the holds that ended since it.
    """

    previous: ScanRun | None
    earliest: dt.date
    latest: dt.date
    exact_dates: tuple[dt.date, ...] = ()
    touched_since: dt.datetime | None = None
    hold_ended: tuple[dt.date, dt.date] | None = None


# Payments and audit entries stamped this long before the previous scan started are read
# again: a transaction stamps its rows before it commits, so one that stamped them just before
# that scan read the plan may have committed just after. Reading a few more plans costs
# nothing (their rows are refused by the outbox); missing one would lose its reminder.
TOUCHED_MARGIN = dt.timedelta(hours=1)


def last_reminder_run(scan_date: dt.date) -> ScanRun | None:
    """The last completed scan up to `scan_date` that queued reminders (a caught-up night
    only cancels). Of two completed runs of that date, the earlier start: the safer "since".

    A rerun of a date already scanned finds that date's own run: no window has opened since,
    so it reads only the plans touched since that run started (measured: 22 s of re-reading
    a night's 114,543 refused reminders at full scale, without this)."""
    return (
        ScanRun.objects.filter(finished_at__isnull=False, caught_up=False, scan_date__lte=scan_date)
        .order_by("-scan_date", "started_at")
        .first()
    )


def scan_scope(scan_date: dt.date, levels, previous: ScanRun | None) -> Scope | None:
    """None when no due-date level is active."""
    windows = [w for ws in windows_by_recipient(levels).values() for w in ws]
    if not windows:
        return None
    ahead = max(0, *(-w.first for w in windows))
    behind = max(0, *(w.last for w in windows))
    earliest, latest = scan_date - behind * DAY, scan_date + ahead * DAY
    if previous is None:
        return Scope(previous=None, earliest=earliest, latest=latest)
    gap = (scan_date - previous.scan_date).days
    nights = [previous.scan_date + k * DAY for k in range(1, gap + 1)]
    true_today = [
        night - w.first * DAY
        for night in nights
        for w in windows
        if any(v.contains((scan_date - (night - w.first * DAY)).days) for v in windows)
    ]
    return Scope(
        previous=previous,
        earliest=earliest,
        latest=latest,
        exact_dates=tuple(sorted(set(true_today))),
        touched_since=previous.started_at - TOUCHED_MARGIN,
        hold_ended=(previous.scan_date, scan_date - DAY),
    )


def candidate_plan_ids(scan_date: dt.date, *, levels=None) -> list[int]:
    """The plans that may need a reminder tonight: the night's changes, not the windows.

    Why this reaches every reminder that reading every plan in a window would (tested by
    tests/reminders/test_scan_scope.py over random histories): a reminder true tonight is
    about a plan P, active and not on hold, whose oldest unpaid installment (due D) puts
    tonight in a level's window [D+first, D+last]. Let L be the last scan that queued
    reminders (before the first one ever: every plan in a window is read, the base case).
      (a) If the window opened after L (D+first in (L, tonight]), D+first is tonight or a
          missed night: P is read by its exact date.
      (b) Else the window was already open at L, and since tonight ≤ D+last, L was inside
          the same window. If P was then as it is now (same oldest unpaid installment,
          active, not on hold), L wrote this reminder. What changes those is a payment
          (Payment.recorded_at), a restore, a hold, a release, shares added, a creation
          (each writes a PlanEvent), or a hold running out by the calendar (`hold_until`
          in [L, tonight)): P is read as touched or as a hold ended.
      (c) The cancellation notices (plans cancelled in the last days) and the digests are
          read as before.
    Not changes of a plan, so not read again: the cadence edited in the admin, a contact
    added or an opt-out withdrawn, a move in the tree. They apply from a level's next day.
    """
    if levels is None:
        levels = list(CadenceLevel.objects.active())
    scope = scan_scope(scan_date, levels, last_reminder_run(scan_date))
    ids: set[int] = set()
    if scope is not None:
        active = Plan.objects.filter(status=PlanStatus.ACTIVE).order_by()
        if scope.previous is None:
            ids.update(window_plan_ids(scope))
        else:
            # Three reads, each off its own index (an OR of them would be one plan for all):
            # plan_active_oldest_unpaid_idx (an IN list of dates),
            if scope.exact_dates:
                ids.update(
                    active.filter(oldest_unpaid_due_date__in=scope.exact_dates).values_list(
                        "pk", flat=True
                    )
                )
            # planevent_at_idx and payment_recorded_at_idx, then the primary key,
            touched = set(
                PlanEvent.objects.filter(at__gte=scope.touched_since)
                .order_by()
                .values_list("plan_id", flat=True)
            )
            touched.update(
                Payment.objects.filter(recorded_at__gte=scope.touched_since)
                .order_by()
                .values_list("plan_id", flat=True)
            )
            if touched:
                ids.update(
                    active.filter(
                        pk__in=sorted(touched),
                        oldest_unpaid_due_date__gte=scope.earliest,
                        oldest_unpaid_due_date__lte=scope.latest,
                    ).values_list("pk", flat=True)
                )
            # and plan_active_hold_idx.
            start, end = scope.hold_ended
            ids.update(
                active.filter(
                    hold_until__gte=start,
                    hold_until__lte=end,
                    oldest_unpaid_due_date__gte=scope.earliest,
                    oldest_unpaid_due_date__lte=scope.latest,
                ).values_list("pk", flat=True)
            )
    if any(level.trigger == Trigger.CANCELLED for level in levels):
        ids.update(
            Plan.objects.filter(
                status=PlanStatus.CANCELLED,
                cancelled_on__gte=scan_date - CANCELLED_NOTICE_DAYS * DAY,
                cancelled_on__lte=scan_date,
            ).values_list("pk", flat=True)
        )
    return sorted(ids)


def window_plan_ids(scope: Scope) -> list[int]:
    """Every active plan whose oldest unpaid installment is in some level's window: the
    first scan ever (an empty outbox to fill), a range on plan_active_oldest_unpaid_idx."""
    return list(
        Plan.objects.filter(
            status=PlanStatus.ACTIVE,
            oldest_unpaid_due_date__gte=scope.earliest,
            oldest_unpaid_due_date__lte=scope.latest,
        ).values_list("pk", flat=True)
    )


def dispatch_chunks(chunk_ids: list[int]) -> None:
    """Hand the chunks to the workers. A chunk the broker will not take is run here and
    now: writing reminder rows needs only the database, so a broker outage delays the
    sending, never the outbox."""
    from .tasks import run_scan_chunk

    app = run_scan_chunk.app
    remaining = list(chunk_ids)
    if not app.conf.task_always_eager:
        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1)
                with connection.Producer() as producer:
                    while remaining:
                        run_scan_chunk.apply_async((remaining[0],), producer=producer)
                        remaining.pop(0)
        except Exception as error:
            logger.warning(
                "broker unavailable, running %d scan chunk(s) in-process: %s",
                len(remaining),
                error,
            )
    for chunk_id in remaining:
        scan_chunk_run(chunk_id=chunk_id, now=_now())


def _now() -> dt.datetime:
    from django.utils import timezone

    return timezone.now()


# ---------------------------------------------------------------------------- a chunk


def scan_chunk_run(*, chunk_id: int, now: dt.datetime) -> int:
    """Write one chunk's reminder rows and hand the new ones to the workers after commit.

    Returns the number of rows this run of the chunk inserted and handed over. Safe to run
    twice, and alongside another scan of the same date: the insert skips every row the
    outbox's unique constraints already hold, and returns only the rows it wrote.
    """
    chunk = ScanChunk.objects.select_related("run").filter(pk=chunk_id).first()
    if chunk is None or chunk.done_at is not None:
        return 0
    run = chunk.run
    levels = list(CadenceLevel.objects.active())
    with transaction.atomic():
        if chunk.is_digest:
            rows = digest_rows(
                scan_date=run.scan_date,
                since=run.cancelled_since or run.scan_date,
                now=now,
                levels=levels,
            )
        else:
            rows = reminder_rows(chunk.plan_ids, scan_date=run.scan_date, now=now, levels=levels)
        # The rows this run inserted (a concurrent scan's copies of the same reminders were
        # refused by the constraint and belong to that run): hand those whose time is now.
        inserted = outbox_insert(rows, scan_date=run.scan_date, run_id=run.pk, now=now)
        ready = [pk for pk, due in inserted if due]
        ScanChunk.objects.filter(pk=chunk.pk, done_at__isnull=True).update(done_at=now)
        _close_run_if_done(run.pk, now=now)
        dispatch_on_commit(ready, marked=True)
    return len(ready)


def _close_run_if_done(run_id: int, *, now: dt.datetime) -> None:
    # The run's row lock serialises the chunks' last step: without it, two chunks finishing
    # at once would each still see the other unfinished, and nobody would close the run.
    run = ScanRun.objects.select_for_update().get(pk=run_id)
    if run.finished_at is not None or run.chunks.filter(done_at__isnull=True).exists():
        return
    run.finished_at = now
    run.reminders_queued = run.reminders.count()
    run.save(update_fields=["finished_at", "reminders_queued"])


def scan_chunk_failed(*, chunk_id: int, error: str) -> None:
    """Record a chunk's failure on its run, for the admin (the chunk will be retried)."""
    run_id = ScanChunk.objects.filter(pk=chunk_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return
    ScanRun.objects.filter(pk=run_id).update(
        errors=models.functions.Concat(
            "errors", models.Value(f"chunk {chunk_id}: {error}\n"), output_field=models.TextField()
        )
    )


# ---------------------------------------------------------------------------- the rows


class Contact(NamedTuple):
    """What a row needs of its recipient: where to reach them and their time zone."""

    id: int
    email: str
    phone: str
    messenger: str
    time_zone: str
    path: str = ""


CONTACT_FIELDS = ("id", "email", "phone", "messenger", "time_zone", "path")


def _contact(investor) -> Contact:
    return Contact(*(getattr(investor, name) or "" for name in CONTACT_FIELDS))


class Row(NamedTuple):
    """One outbox row to insert (the rest of the columns take their defaults)."""

    recipient_id: int
    kind: str
    channel: str
    scheduled_for: dt.datetime
    plan_id: int | None = None
    installment_id: int | None = None
    digest_date: dt.date | None = None
    payload: dict | None = None


class _RowMaker:
    """Turns (recipient, level, subject) into rows, one per channel the recipient can be
    reached on and did not opt out of, scheduled after the quiet hours in their zone."""

    def __init__(self, now: dt.datetime, recipient_ids):
        self.now = now
        self.opted_out = _opted_out(recipient_ids)
        self._moments: dict[tuple[str, str], dt.datetime] = {}

    def _not_before(self, channel: str, time_zone: str) -> dt.datetime:
        key = (channel, time_zone)
        if key not in self._moments:
            zone = ZoneInfo(time_zone) if time_zone else settings.BUSINESS_TIME_ZONE
            self._moments[key] = not_before(self.now, channel=channel, zone=zone)
        return self._moments[key]

    def rows(self, recipient: Contact, level: CadenceLevel, **subject):
        for channel in level.channels:
            if (recipient.id, channel) in self.opted_out:
                continue
            if not getattr(recipient, CHANNEL_ADDRESS[channel]).strip():
                continue
            yield Row(
                recipient_id=recipient.id,
                kind=level.code,
                channel=channel,
                scheduled_for=self._not_before(channel, recipient.time_zone),
                **subject,
            )


def _opted_out(investor_ids) -> set[tuple[int, str]]:
    return set(
        ChannelOptOut.objects.filter(investor_id__in=set(investor_ids)).values_list(
            "investor_id", "channel"
        )
    )


OUTBOX_COLUMNS = (
    "recipient_id",
    "kind",
    "channel",
    "plan_id",
    "installment_id",
    "digest_date",
    "queued_on",
    "scheduled_for",
    "status",
    "attempts",
    "last_error",
    "skip_reason",
    "payload",
    "scan_run_id",
    "created_at",
    "dispatched_at",
)
INSERT_BATCH = 1000  # rows per statement: 15 parameters each, within SQLite's limit too


def outbox_insert(
    rows: list[Row], *, scan_date: dt.date, run_id: int | None, now: dt.datetime
) -> list[tuple[int, bool]]:
    """Insert the rows the outbox does not hold yet, in multi-row statements.

    `INSERT … ON CONFLICT DO NOTHING RETURNING`: the unique constraints refuse a second copy
    of a reminder (a rescan, a chunk run twice, a concurrent scan), and the statement returns
    exactly the rows it wrote, with whether their time has come (quiet hours may put it
    later). One statement per thousand rows instead of a model instance and a re-read per row.
    """
    if not rows:
        return []
    ops = connection.ops
    table = connection.ops.quote_name(Reminder._meta.db_table)
    queued_on = ops.adapt_datefield_value(scan_date)
    at = ops.adapt_datetimefield_value(now)
    inserted: list[tuple[int, bool]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start : start + INSERT_BATCH]
            values = []
            params: list = []
            for row in batch:
                values.append("(" + ", ".join(["%s"] * len(OUTBOX_COLUMNS)) + ")")
                params += [
                    row.recipient_id,
                    row.kind,
                    row.channel,
                    row.plan_id,
                    row.installment_id,
                    ops.adapt_datefield_value(row.digest_date),
                    queued_on,
                    ops.adapt_datetimefield_value(row.scheduled_for),
                    "pending",
                    0,
                    "",
                    "",
                    json.dumps(row.payload or {}),
                    run_id,
                    at,
                    # Handed over after commit, when its time has come: recorded now, so the
                    # hand-over need not update every row (it clears this if the broker
                    # refuses them; a process dying before it hands them over leaves rows
                    # the re-dispatch finds once the mark is stale).
                    at if row.scheduled_for <= now else None,
                ]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(OUTBOX_COLUMNS)}) VALUES {', '.join(values)} "
                "ON CONFLICT DO NOTHING RETURNING id, scheduled_for <= %s",
                [*params, at],
            )
            inserted += [(pk, bool(due)) for pk, due in cursor.fetchall()]
    return inserted


def reminder_rows(plan_ids, *, scan_date: dt.date, now: dt.datetime, levels) -> list[Row]:
    """The rows of the due-date levels and the cancellation notices for these plans: two
    reads of plain values (no model instances), then Python over tuples."""
    by_code = {level.code: level for level in levels}
    windows = windows_by_recipient(levels)
    if not plan_ids:
        return []
    contact = [f"investor__{name}" for name in CONTACT_FIELDS]
    due = []
    all_windows = [w for ws in windows.values() for w in ws]
    if all_windows:
        ahead = max(0, *(-w.first for w in all_windows))
        behind = max(0, *(w.last for w in all_windows))
        earliest, latest = scan_date - behind * DAY, scan_date + ahead * DAY
        # Two reads by primary and foreign key (a join on the oldest unpaid date lets the
        # planner walk the date index, where every plan of a cohort shares one value).
        plans = {
            pk: (oldest, investor)
            for pk, oldest, *investor in Plan.objects.filter(
                pk__in=plan_ids,
                status=PlanStatus.ACTIVE,
                oldest_unpaid_due_date__gte=earliest,
                oldest_unpaid_due_date__lte=latest,
            )
            .exclude(hold_until__gte=scan_date)
            .order_by()
            .values_list("pk", "oldest_unpaid_due_date", *contact)
        }
        # Reminders are about the oldest unpaid installment: it sets the grace deadline.
        due = [
            (pk, plan_id, due_date, *plans[plan_id][1])
            for pk, plan_id, due_date in Installment.objects.filter(
                plan_id__in=list(plans),
                paid_on__isnull=True,
                due_date__gte=earliest,
                due_date__lte=latest,
            )
            .order_by("plan_id", "number")
            .values_list("pk", "plan_id", "due_date")
            if due_date == plans[plan_id][0]
        ]
    cancelled_levels = [level for level in levels if level.trigger == Trigger.CANCELLED]
    cancelled = []
    if cancelled_levels:
        cancelled = list(
            Plan.objects.filter(
                pk__in=plan_ids,
                status=PlanStatus.CANCELLED,
                cancelled_on__gte=scan_date - CANCELLED_NOTICE_DAYS * DAY,
                cancelled_on__lte=scan_date,
            ).values_list("pk", *contact)
        )
    wanted: list[tuple[Contact, CadenceLevel, dict]] = []
    for installment_id, plan_id, due_date, *investor in due:
        days = (scan_date - due_date).days
        for recipient_windows in windows.values():
            for window in recipient_windows:
                if window.contains(days):
                    subject = {"plan_id": plan_id, "installment_id": installment_id}
                    wanted.append((Contact(*investor), by_code[window.code], subject))
    for plan_id, *investor in cancelled:
        for level in cancelled_levels:
            wanted.append((Contact(*investor), level, {"plan_id": plan_id}))

    participants: dict[int, Contact] = {}
    if any(level.recipient == Recipient.PARTICIPANT for level in levels):
        above = participants_above(investor.path for investor, _, _ in wanted)
        for investor, _, _ in wanted:
            for ancestor in ancestor_paths(investor.path):
                if ancestor in above:
                    participants[investor.id] = _contact(above[ancestor])
                    break

    addressed = []
    for investor, level, subject in wanted:
        if level.recipient == Recipient.INVESTOR:
            addressed.append((investor, level, subject))
        elif investor.id in participants:
            addressed.append((participants[investor.id], level, subject))
    maker = _RowMaker(now, (recipient.id for recipient, _, _ in addressed))
    return [row for args in addressed for row in maker.rows(args[0], args[1], **args[2])]


def digest_rows(*, scan_date: dt.date, since: dt.date, now: dt.datetime, levels) -> list[Row]:
    """One digest per participant whose structure (every level below them) has overdue
    clients, clients with 3 days or fewer left, or plans cancelled since `since`: counts and
    the most urgent names. Nothing for a participant with nothing to report.

    Read from the day's overdue and cancelled plans (small), each attributed to every
    participant above its investor through the path prefixes: no per-participant query.
    """
    digest_levels = [level for level in levels if level.trigger == Trigger.DIGEST]
    if not digest_levels:
        return []
    overdue = (
        Plan.objects.filter(status=PlanStatus.ACTIVE, oldest_unpaid_due_date__lt=scan_date)
        .exclude(hold_until__gte=scan_date)
        .with_overdue(scan_date)
        .filter(days_left__gte=0)
        .values_list(
            "investor_id",
            "investor__name",
            "investor__path",
            "investor__phone",
            "days_left",
            "overdue_amount",
        )
    )
    cancelled = Plan.objects.filter(
        status=PlanStatus.CANCELLED, cancelled_on__gte=since, cancelled_on__lte=scan_date
    ).values_list("investor__path", flat=True)

    clients: dict[int, dict] = {}  # the most urgent plan per investor, amounts summed
    for investor_id, name, path, phone, days_left, amount in overdue:
        entry = clients.setdefault(
            investor_id,
            {"name": name, "path": path, "phone": phone, "days_left": days_left, "amount": 0},
        )
        entry["days_left"] = min(entry["days_left"], days_left)
        entry["amount"] = Decimal(entry["amount"]) + Decimal(amount)
    cancelled_paths = list(cancelled)
    above = participants_above([c["path"] for c in clients.values()] + cancelled_paths)
    if not above:
        return []

    per_participant: dict[str, dict] = defaultdict(lambda: {"clients": [], "cancelled_plans": 0})
    for entry in clients.values():
        for ancestor in ancestor_paths(entry["path"]):
            if ancestor in above:
                per_participant[ancestor]["clients"].append(entry)
    for path in cancelled_paths:
        for ancestor in ancestor_paths(path):
            if ancestor in above:
                per_participant[ancestor]["cancelled_plans"] += 1

    cap = settings.REMINDER_DIGEST_NAMES
    wanted = []
    for path, found in per_participant.items():
        urgent = sorted(found["clients"], key=lambda c: (c["days_left"], -c["amount"], c["name"]))
        payload = {
            "overdue_clients": len(urgent),
            "due_soon_clients": sum(1 for c in urgent if c["days_left"] <= DUE_SOON_DAYS),
            "cancelled_plans": found["cancelled_plans"],
            "urgent": [
                {
                    "name": c["name"],
                    "phone": c["phone"],
                    "days_left": c["days_left"],
                    "overdue_amount": f"{Decimal(c['amount']):.2f}",
                }
                for c in urgent[:cap]
            ],
            "more": max(0, len(urgent) - cap),
        }
        if payload["overdue_clients"] or payload["cancelled_plans"]:
            wanted.append((_contact(above[path]), payload))
    maker = _RowMaker(now, (participant.id for participant, _ in wanted))
    return [
        row
        for participant, payload in wanted
        for level in digest_levels
        for row in maker.rows(participant, level, digest_date=scan_date, payload=payload)
    ]


# ---------------------------------------------------------------------------- the check


def scan_check(*, scan_date: dt.date, now: dt.datetime) -> ScanRun | None:
    """Flag the scan of `scan_date` when it has not completed (never started, still
    running, or failed): the admin sees a flagged run, the admins get an email. Flags once."""
    runs = ScanRun.objects.filter(scan_date=scan_date)
    if runs.filter(finished_at__isnull=False, errors="").exists():
        return None
    if runs.filter(flagged_at__isnull=False).exists():
        return None
    problem = f"The scan of {scan_date} had not completed at {now:%Y-%m-%d %H:%M} UTC."
    with transaction.atomic():
        run = runs.order_by("-started_at").first()
        if run is None:
            run = ScanRun.objects.create(scan_date=scan_date, trigger="check", errors=problem)
        ScanRun.objects.filter(pk=run.pk).update(flagged_at=now)
    logger.error(problem)
    mail_admins(f"Nightly scan of {scan_date} not completed", problem, fail_silently=True)
    run.refresh_from_db()
    return run


def chunks_redispatch(*, now: dt.datetime) -> int:
    """Unfinished chunks older than the re-dispatch delay: their worker died or the broker
    lost them. Running a chunk twice is harmless."""
    stale_before = now - dt.timedelta(seconds=settings.REMINDER_REDISPATCH_AFTER_SECONDS)
    ids = list(
        ScanChunk.objects.filter(
            done_at__isnull=True,
            created_at__lt=stale_before,
            # A chunk still unfinished after a day is for the admin (its run shows the error).
            created_at__gte=now - dt.timedelta(days=1),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if ids:
        dispatch_chunks(ids)
    return len(ids)
