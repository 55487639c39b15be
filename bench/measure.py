"""The measurements that run inside one database: the scan, its SQL floor, the rescan and
the naive loop (the Structure request's timing is in bench.structure_timing). Every one
leaves the data as it found it: each write runs in a transaction that is rolled back.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from installments import rules
from installments.models import Plan, PlanEvent, PlanEventKind, PlanStatus
from installments.services import plans_to_cancel
from reminders import scan as reminder_scan

from .endpoints import structure_url

logger = logging.getLogger("bench")
GRACE = rules.GRACE_DAYS  # the grace days, in the SQL below


class _Rollback(Exception):
    pass


@contextmanager
def rolled_back():
    """Run the block in a transaction and undo everything it wrote."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


def _timed(call: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


# ---------------------------------------------------------------------------- the scan


def scan_moment(scan_date: dt.date) -> dt.datetime:
    """Noon of the scan date, business time: outside every recipient's quiet hours, so every
    reminder written is due at once and handed over (at 02:00 the SMS would wait)."""
    return dt.datetime.combine(scan_date, dt.time(12), tzinfo=settings.BUSINESS_TIME_ZONE)


def scan(scan_date: dt.date) -> int:
    """The product's nightly scan as it runs: `reminders.scan.scan` (catch-up, cancellations,
    the day's plans split into chunks), then every chunk run here one after another as one
    worker would (the reminder rows written). The hand-over to the broker after commit is
    not part of it (the caller's transaction is rolled back, so it never fires):
    `reminders_per_second` measures it. Returns the plans cancelled."""
    now = scan_moment(scan_date)
    report = reminder_scan.scan(scan_date=scan_date, now=now, trigger="bench")
    for chunk_id in report.run.chunks.order_by("number").values_list("pk", flat=True):
        reminder_scan.scan_chunk_run(chunk_id=chunk_id, now=now)
    return len(report.cancellations)


# The least SQL that does the same night's work: one statement that cancels the plans past
# their deadline and writes their audit entries with the overdue amount, then one that
# writes the reminder rows (see floor_reminder_sql).
FLOOR_SQL = f"""
WITH cancelled AS (
    UPDATE installments_plan SET status = 'cancelled', cancelled_on = %(day)s
    WHERE status = 'active' AND oldest_unpaid_due_date < %(latest)s
      AND (hold_until IS NULL OR hold_until < %(day)s)
      AND (grace_extended_to IS NULL OR grace_extended_to < %(day)s)
    RETURNING id, oldest_unpaid_due_date,
              GREATEST(oldest_unpaid_due_date + {GRACE}, hold_until, grace_extended_to) AS deadline
)
INSERT INTO installments_planevent (plan_id, kind, at, actor_id, reason, data)
SELECT c.id, 'cancelled', now(), NULL,
       format('Grace deadline %%s passed with %%s overdue (oldest unpaid installment due %%s).',
              c.deadline, o.overdue_amount, c.oldest_unpaid_due_date),
       jsonb_build_object('scan_date', %(day)s::date, 'grace_deadline', c.deadline,
                          'overdue_amount', o.overdue_amount::text)
FROM cancelled c
CROSS JOIN LATERAL (
    SELECT COALESCE(sum(i.amount - i.paid_amount), 0.00) AS overdue_amount
    FROM installments_installment i
    WHERE i.plan_id = c.id AND i.paid_on IS NULL AND i.due_date < %(day)s
) o
"""

_REMINDER_COLUMNS = """(recipient_id, kind, channel, plan_id, installment_id, digest_date,
    queued_on, scheduled_for, status, attempts, last_error, skip_reason, payload, scan_run_id,
    created_at)"""
_CHANNELS = """CROSS JOIN LATERAL (VALUES ('email', i.email, l.by_email),
    ('sms', i.phone, l.by_sms), ('messenger', i.messenger, l.by_messenger))
    ch(channel, addr, on_)"""
_NOT_OPTED_OUT = """ch.on_ AND ch.addr <> '' AND NOT EXISTS (SELECT 1
    FROM reminders_channeloptout o
    WHERE o.investor_id = i.id AND o.channel = ch.channel)"""


def floor_reminder_sql(scan_date: dt.date) -> tuple[list[str], dict]:
    """The reminder rows of the night in set-based SQL: the due-date steps (the oldest unpaid
    installment of each active plan not on hold, in the window of the step true today), the
    cancellation notices, and one digest per participant with overdue clients or cancelled
    plans below them (counts only: no list of names). Every row `ON CONFLICT DO NOTHING`."""
    from reminders.models import CadenceStep, Recipient, Trigger
    from reminders.rules import due_date_range, notice_from
    from reminders.scan import last_reminder_run, scan_scope
    from reminders.services import windows_by_recipient

    steps = list(CadenceStep.objects.active())
    windows = windows_by_recipient(steps).get(Recipient.INVESTOR, [])
    params = {
        "day": scan_date,
        "now": scan_moment(scan_date),
        "notice_from": notice_from(scan_date),
    }
    # The same candidates as the scan: the night's changes since the last scan that queued
    # reminders (a step's first day, a payment or an audit entry, a hold that ended), or
    # every plan inside a window before the first one.
    scope = scan_scope(scan_date, steps, last_reminder_run(scan_date))
    candidates = ""
    if scope is not None and scope.previous is not None:
        candidates = """JOIN (
    SELECT id FROM installments_plan
    WHERE status = 'active' AND oldest_unpaid_due_date = ANY(%(exact)s::date[])
    UNION SELECT plan_id FROM installments_planevent WHERE at >= %(since)s
    UNION SELECT plan_id FROM installments_payment WHERE recorded_at >= %(since)s
    UNION SELECT id FROM installments_plan
    WHERE status = 'active' AND hold_until BETWEEN %(hold_from)s AND %(hold_to)s
) c ON c.id = p.id"""
        params.update(
            exact=list(scope.exact_dates),
            since=scope.touched_since,
            hold_from=scope.hold_ended[0],
            hold_to=scope.hold_ended[1],
        )
    statements = []
    if windows:
        values = ", ".join(f"(%(code{n})s, {w.first}, {w.last})" for n, w in enumerate(windows))
        params.update({f"code{n}": w.code for n, w in enumerate(windows)})
        params["earliest"], params["latest"] = due_date_range(windows, scan_date)
        statements.append(f"""
INSERT INTO reminders_reminder {_REMINDER_COLUMNS}
SELECT i.id, l.code, ch.channel, p.id, n.id, NULL, %(day)s, %(now)s, 'pending', 0, '', '',
       '{{}}', NULL, now()
FROM installments_plan p
{candidates}
JOIN installments_installment n ON n.plan_id = p.id AND n.due_date = p.oldest_unpaid_due_date
     AND n.paid_on IS NULL
JOIN clients_investor i ON i.id = p.investor_id
JOIN (VALUES {values}) w(code, first, last)
     ON %(day)s::date - n.due_date BETWEEN w.first AND w.last
JOIN reminders_cadencestep l ON l.code = w.code
{_CHANNELS}
WHERE p.status = 'active' AND (p.hold_until IS NULL OR p.hold_until < %(day)s)
  AND p.oldest_unpaid_due_date BETWEEN %(earliest)s AND %(latest)s
  AND {_NOT_OPTED_OUT}
ON CONFLICT DO NOTHING""")
    if any(lv.trigger == Trigger.CANCELLED and lv.recipient == Recipient.INVESTOR for lv in steps):
        statements.append(f"""
INSERT INTO reminders_reminder {_REMINDER_COLUMNS}
SELECT i.id, l.code, ch.channel, p.id, NULL, NULL, %(day)s, %(now)s, 'pending', 0, '', '',
       '{{}}', NULL, now()
FROM installments_plan p
JOIN clients_investor i ON i.id = p.investor_id
JOIN reminders_cadencestep l ON l.trigger = 'cancelled' AND l.is_active
     AND l.recipient = 'investor'
{_CHANNELS}
WHERE p.status = 'cancelled' AND p.cancelled_on BETWEEN %(notice_from)s AND %(day)s
  AND {_NOT_OPTED_OUT}
ON CONFLICT DO NOTHING""")
    if any(lv.trigger == Trigger.DIGEST for lv in steps):
        statements.append(f"""
WITH news AS (
    SELECT v.path, 1 AS overdue, 0 AS cancelled
    FROM installments_plan p JOIN clients_investor v ON v.id = p.investor_id
    WHERE p.status = 'active' AND p.oldest_unpaid_due_date < %(day)s
      AND (p.hold_until IS NULL OR p.hold_until < %(day)s)
      AND GREATEST(p.oldest_unpaid_due_date + {GRACE}, p.hold_until, p.grace_extended_to)
          >= %(day)s
    UNION ALL
    SELECT v.path, 0, 1
    FROM installments_plan p JOIN clients_investor v ON v.id = p.investor_id
    WHERE p.status = 'cancelled' AND p.cancelled_on = %(day)s
), per_participant AS (
    SELECT i.id, i.email, i.phone, i.messenger,
           sum(news.overdue) AS overdue, sum(news.cancelled) AS cancelled
    FROM clients_investor i
    JOIN news ON news.path LIKE i.path || '%%' AND news.path <> i.path
    WHERE i.user_id IS NOT NULL
    GROUP BY i.id
)
INSERT INTO reminders_reminder {_REMINDER_COLUMNS}
SELECT i.id, l.code, ch.channel, NULL, NULL, %(day)s, %(day)s, %(now)s, 'pending', 0, '', '',
       jsonb_build_object('overdue_clients', i.overdue, 'cancelled_plans', i.cancelled),
       NULL, now()
FROM per_participant i
JOIN reminders_cadencestep l ON l.trigger = 'digest' AND l.is_active
{_CHANNELS}
WHERE {_NOT_OPTED_OUT}
ON CONFLICT DO NOTHING""")
    return statements, params


def scan_floor(scan_date: dt.date) -> tuple[int, int]:
    """The floor: returns (plans cancelled, reminder rows written)."""
    statements, params = floor_reminder_sql(scan_date)
    with connection.cursor() as cursor:
        cursor.execute(
            FLOOR_SQL,
            {"day": scan_date, "latest": rules.latest_saveable_due_date(scan_date)},
        )
        cancelled = cursor.rowcount
        written = 0
        for statement in statements:
            cursor.execute(statement, params)
            written += cursor.rowcount
    return cancelled, written


def naive_scan(scan_date: dt.date, limit: int | None = None) -> tuple[int, int]:
    """What one writes without the read model and the set-based outbox: the same night's work
    plan by plan with the ORM. Every active plan, its unpaid installments read to find the
    oldest; a plan past its deadline is saved cancelled with its audit row and its notice;
    any other plan not on hold gets the reminder of the step true tonight, channel by
    channel (opt-out read, `get_or_create` against the outbox); then one digest per
    participant with overdue clients or plans cancelled tonight below them, counted with the
    ORM. Returns (plans cancelled, reminder rows written)."""
    from clients.models import Investor
    from reminders.models import CadenceStep, Recipient, Trigger
    from reminders.rules import days_from_due
    from reminders.services import windows_by_recipient

    steps = list(CadenceStep.objects.active())
    by_code = {step.code: step for step in steps}
    windows = windows_by_recipient(steps).get(Recipient.INVESTOR, [])
    notices = [
        step
        for step in steps
        if step.trigger == Trigger.CANCELLED and step.recipient == Recipient.INVESTOR
    ]
    now = scan_moment(scan_date)
    cancelled = written = 0
    plans = Plan.objects.filter(status=PlanStatus.ACTIVE).select_related("investor").order_by("id")
    if limit is not None:
        plans = plans[:limit]
    for plan in plans.iterator(chunk_size=2000):
        unpaid = list(plan.installments.filter(paid_on__isnull=True).order_by("number"))
        if not unpaid:
            continue
        deadline = rules.grace_deadline(
            unpaid[0].due_date, hold_until=plan.hold_until, extended_to=plan.grace_extended_to
        )
        if rules.scan_cancels(deadline, scan_date):
            overdue = (i.unpaid for i in unpaid if i.due_date < scan_date)
            overdue_amount = sum(overdue, Decimal("0.00"))
            plan.status = PlanStatus.CANCELLED
            plan.cancelled_on = scan_date
            plan.save(update_fields=["status", "cancelled_on"])
            PlanEvent.objects.create(
                plan=plan,
                kind=PlanEventKind.CANCELLED,
                reason=f"Grace deadline {deadline} passed with {overdue_amount} overdue.",
                data={"scan_date": scan_date.isoformat(), "overdue_amount": str(overdue_amount)},
            )
            cancelled += 1
            for step in notices:
                written += _naive_reminder(plan.investor, step, now, scan_date, plan=plan)
            continue
        if plan.is_on_hold(scan_date):
            continue
        days = days_from_due(unpaid[0].due_date, scan_date)
        for window in windows:
            if window.contains(days):
                written += _naive_reminder(
                    plan.investor,
                    by_code[window.code],
                    now,
                    scan_date,
                    plan=plan,
                    installment=unpaid[0],
                )
    digests = [lv for lv in steps if lv.trigger == Trigger.DIGEST]
    if digests and limit is None:
        for participant in Investor.objects.filter(user__isnull=False).order_by("id"):
            below = Plan.objects.filter(investor__path__startswith=participant.path).exclude(
                investor__path=participant.path
            )
            overdue = (
                below.filter(status=PlanStatus.ACTIVE, oldest_unpaid_due_date__lt=scan_date)
                .exclude(hold_until__gte=scan_date)
                .with_overdue(scan_date)
                .filter(days_left__gte=0)
                .count()
            )
            gone = below.filter(status=PlanStatus.CANCELLED, cancelled_on=scan_date).count()
            if overdue or gone:
                payload = {"overdue_clients": overdue, "cancelled_plans": gone}
                for step in digests:
                    written += _naive_reminder(
                        participant, step, now, scan_date, digest_date=scan_date, payload=payload
                    )
    return cancelled, written


def _naive_reminder(investor, step, now, scan_date, *, payload=None, **subject) -> int:
    from reminders.models import CHANNEL_ADDRESS, ChannelOptOut, Reminder

    written = 0
    for channel in step.channels:
        if not (getattr(investor, CHANNEL_ADDRESS[channel]) or "").strip():
            continue
        if ChannelOptOut.objects.filter(investor=investor, channel=channel).exists():
            continue
        _, created = Reminder.objects.get_or_create(
            recipient=investor,
            kind=step.code,
            channel=channel,
            **subject,
            defaults={"queued_on": scan_date, "scheduled_for": now, "payload": payload or {}},
        )
        written += created
    return written


# The scan's own record of each run (a rescan records that it ran): not the night's work.
BOOKKEEPING_TABLES = ("reminders_scanrun", "reminders_scanchunk")


def _rows_written() -> dict[str, int]:
    """Rows this transaction inserted, updated or deleted so far, per table. A TOAST table's
    rows (a long field written out of line) count as its owner's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(owner.relname, s.relname), "
            "       sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del) "
            "FROM pg_stat_xact_all_tables s "
            "LEFT JOIN pg_class owner ON owner.reltoastrelid = s.relid "
            "WHERE s.n_tup_ins + s.n_tup_upd + s.n_tup_del > 0 "
            "GROUP BY 1"
        )
        return {table: int(rows) for table, rows in cursor.fetchall()}


def _outbox_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM reminders_reminder")
        return cursor.fetchone()[0]


def measure_scan(scan_date: dt.date, runs: int) -> dict:
    scan_times, floor_times = [], []
    changed = floor_changed = reminders = floor_reminders = 0
    before = _outbox_rows()
    for _ in range(runs):
        with rolled_back():
            seconds, changed = _timed(lambda: scan(scan_date))
            reminders = _outbox_rows() - before
        scan_times.append(seconds)
        with rolled_back():
            seconds, (floor_changed, floor_reminders) = _timed(lambda: scan_floor(scan_date))
        floor_times.append(seconds)
    if (floor_changed, floor_reminders) != (changed, reminders):
        raise RuntimeError(
            f"the floor cancelled {floor_changed} plans and wrote {floor_reminders} reminders, "
            f"the scan {changed} and {reminders}"
        )
    with rolled_back():
        scan(scan_date)
        first = _rows_written()
        rescan_seconds, rescan_changed = _timed(lambda: scan(scan_date))
        second = _rows_written()
    written = {t: n - first.get(t, 0) for t, n in second.items() if n - first.get(t, 0)}
    return {
        "scan_seconds": statistics.median(scan_times),
        "scan_floor_seconds": statistics.median(floor_times),
        "plans_cancelled": changed,
        "reminders_written": reminders,
        "rescan_seconds": rescan_seconds,
        "rescan_rows_written": sum(n for t, n in written.items() if t not in BOOKKEEPING_TABLES),
        "rescan_bookkeeping_rows": sum(n for t, n in written.items() if t in BOOKKEEPING_TABLES),
        "rescan_plans_cancelled": rescan_changed,
    }


# ---------------------------------------------------------------------------- reminders


def _handed_over(broker) -> tuple[int, int]:
    """(messages, reminder ids) of the delivery batches waiting in the broker's queue."""
    import base64
    import json

    messages = ids = 0
    for raw in broker.lrange("celery", 0, -1):
        message = json.loads(raw)
        if message["headers"].get("task") != "reminders.deliver_batch":
            continue
        args = json.loads(base64.b64decode(message["body"]))[0]
        messages += 1
        ids += len(args[0])
    return messages, ids


def measure_reminders(scan_date: dt.date, runs: int) -> dict:
    """`reminders_per_second`: the same scan, now with its hand-over: every reminder row
    written and its id published to the broker (Redis, CELERY_BROKER_URL: the benchmark's
    own database number, emptied before and after) in delivery batches, over the seconds from
    the scan's start to the last message published. The messages are counted in Redis.

    The median of `runs` runs, as for the scan. The first run is the first publish in a cold
    process (Celery's and kombu's set-up, the broker connection); its seconds are reported
    apart (`reminders_first_seconds`)."""
    import redis
    from celery import current_app
    from django.test import TestCase

    eager, current_app.conf.task_always_eager = current_app.conf.task_always_eager, False
    broker = redis.Redis.from_url(current_app.conf.broker_url)
    before = _outbox_rows()
    times = []
    try:
        for _ in range(runs):
            broker.flushdb()
            with rolled_back():
                # Inside the rolled-back transaction the on-commit hand-overs are collected
                # and run at the end of this block, as each chunk's commit would run its own.
                with TestCase.captureOnCommitCallbacks(execute=True):
                    started = time.perf_counter()
                    scan(scan_date)
                times.append(time.perf_counter() - started)
                rows = _outbox_rows() - before
            messages, handed = _handed_over(broker)
            if handed != rows:
                raise RuntimeError(
                    f"{rows} reminder rows written but {handed} handed to the broker"
                )
    finally:
        broker.flushdb()
        current_app.conf.task_always_eager = eager
    seconds = statistics.median(times)
    return {
        "reminders_per_second": rows / seconds if rows else None,
        "reminders_queued": rows,
        "reminders_seconds": seconds,
        "reminders_first_seconds": times[0],
        "reminders_messages": messages,
    }


def measure_naive(scan_date: dt.date, sample: int) -> dict:
    active = Plan.objects.filter(status=PlanStatus.ACTIVE).count()
    limit = None if active <= sample else sample
    with rolled_back():
        seconds, (cancelled, written) = _timed(lambda: naive_scan(scan_date, limit))
    looped = active if limit is None else limit
    return {
        "naive_reminders_written": written,
        "naive_seconds": seconds * active / looped,
        "naive_measured_seconds": seconds,
        "naive_plans_looped": looped,
        "naive_plans_active": active,
        "naive_extrapolated": limit is not None,
        "naive_plans_cancelled": cancelled,
    }


# ---------------------------------------------------------------------------- plans


def explain(scan_date: dt.date, token: str, page: int) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of the scan's candidate read, of the floor, and of every
    SELECT the Structure request runs (whatever view serves it)."""
    plans = {}
    with rolled_back():
        plans["scan: candidates (locked, with overdue amounts)"] = (
            plans_to_cancel(scan_date)
            .select_related("investor")
            .explain(analyze=True, buffers=True)
        )
    with rolled_back(), connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + FLOOR_SQL,
            {"day": scan_date, "latest": rules.latest_saveable_due_date(scan_date)},
        )
        plans["scan floor"] = "\n".join(row[0] for row in cursor.fetchall())
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    with CaptureQueriesContext(connection) as captured:
        client.get(structure_url(page))
    for number, query in enumerate(captured.captured_queries, start=1):
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql.replace("%", "%%"))
            plan = "\n".join(row[0] for row in cursor.fetchall())
        plans[f"structure request, query {number}: {sql[:160]}"] = plan
    return plans
