"""The measurements that run inside one database: the scan, its SQL floor, the rescan, the
naive loop and the Structure request. Every one leaves the data as it found it: each write
runs in a transaction that is rolled back.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from decimal import Decimal

from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from installments import rules
from installments.models import Plan, PlanEvent, PlanEventKind, PlanStatus
from installments.services import plans_cancel_expired, plans_to_cancel

from .endpoints import structure_url

logger = logging.getLogger("bench")


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


def scan(scan_date: dt.date) -> int:
    """The product's nightly scan. Later: the full Celery scan, reminders queued included."""
    return len(plans_cancel_expired(scan_date=scan_date))


# The least SQL that does the same night's work: one statement that cancels the plans past
# their deadline and writes their audit entries with the overdue amount.
FLOOR_SQL = """
WITH cancelled AS (
    UPDATE installments_plan SET status = 'cancelled', cancelled_on = %(day)s
    WHERE status = 'active' AND oldest_unpaid_due_date < %(latest)s
      AND (hold_until IS NULL OR hold_until < %(day)s)
      AND (grace_extended_to IS NULL OR grace_extended_to < %(day)s)
    RETURNING id, oldest_unpaid_due_date,
              GREATEST(oldest_unpaid_due_date + 19, hold_until, grace_extended_to) AS deadline
)
INSERT INTO installments_planevent (plan_id, kind, at, actor_id, reason, data)
SELECT c.id, 'cancelled', now(), NULL,
       format('Grace deadline %%s passed with %%s overdue (oldest unpaid installment due %%s).',
              c.deadline, o.owed, c.oldest_unpaid_due_date),
       jsonb_build_object('scan_date', %(day)s::date, 'grace_deadline', c.deadline,
                          'overdue_amount', o.owed::text)
FROM cancelled c
CROSS JOIN LATERAL (
    SELECT COALESCE(sum(i.amount - i.paid_amount), 0.00) AS owed
    FROM installments_installment i
    WHERE i.plan_id = c.id AND i.paid_on IS NULL AND i.due_date < %(day)s
) o
"""


def scan_floor(scan_date: dt.date) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            FLOOR_SQL,
            {"day": scan_date, "latest": rules.latest_saveable_due_date(scan_date)},
        )
        return cursor.rowcount


def naive_scan(scan_date: dt.date, limit: int | None = None) -> int:
    """What one writes without the read model: every active plan, its installments read to
    find the oldest unpaid one, one save and one audit row per cancelled plan."""
    cancelled = 0
    plans = Plan.objects.filter(status=PlanStatus.ACTIVE).order_by("id")
    if limit is not None:
        plans = plans[:limit]
    for plan in plans.iterator(chunk_size=2000):
        unpaid = list(plan.installments.filter(paid_on__isnull=True).order_by("number"))
        if not unpaid:
            continue
        deadline = rules.grace_deadline(
            unpaid[0].due_date, hold_until=plan.hold_until, extended_to=plan.grace_extended_to
        )
        if not rules.scan_cancels(deadline, scan_date):
            continue
        owed = sum((i.owed for i in unpaid if i.due_date < scan_date), Decimal("0.00"))
        plan.status = PlanStatus.CANCELLED
        plan.cancelled_on = scan_date
        plan.save(update_fields=["status", "cancelled_on"])
        PlanEvent.objects.create(
            plan=plan,
            kind=PlanEventKind.CANCELLED,
            reason=f"Grace deadline {deadline} passed with {owed} overdue.",
            data={"scan_date": scan_date.isoformat(), "overdue_amount": str(owed)},
        )
        cancelled += 1
    return cancelled


def _rows_written() -> int:
    """Rows this transaction inserted, updated or deleted so far, in every table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) "
            "FROM pg_stat_xact_all_tables"
        )
        return int(cursor.fetchone()[0])


def measure_scan(scan_date: dt.date, runs: int) -> dict:
    scan_times, floor_times = [], []
    changed = floor_changed = 0
    for _ in range(runs):
        with rolled_back():
            seconds, changed = _timed(lambda: scan(scan_date))
        scan_times.append(seconds)
        with rolled_back():
            seconds, floor_changed = _timed(lambda: scan_floor(scan_date))
        floor_times.append(seconds)
    if floor_changed != changed:
        raise RuntimeError(f"the floor cancelled {floor_changed} plans, the scan {changed}")
    with rolled_back():
        scan(scan_date)
        before = _rows_written()
        rescan_seconds, rescan_changed = _timed(lambda: scan(scan_date))
        rescan_rows = _rows_written() - before
    return {
        "scan_seconds": statistics.median(scan_times),
        "scan_floor_seconds": statistics.median(floor_times),
        "plans_cancelled": changed,
        "rescan_seconds": rescan_seconds,
        "rescan_rows_written": rescan_rows,
        "rescan_plans_cancelled": rescan_changed,
    }


def measure_naive(scan_date: dt.date, sample: int) -> dict:
    active = Plan.objects.filter(status=PlanStatus.ACTIVE).count()
    limit = None if active <= sample else sample
    with rolled_back():
        seconds, cancelled = _timed(lambda: naive_scan(scan_date, limit))
    looped = active if limit is None else limit
    return {
        "naive_seconds": seconds * active / looped,
        "naive_measured_seconds": seconds,
        "naive_plans_looped": looped,
        "naive_plans_active": active,
        "naive_extrapolated": limit is not None,
        "naive_plans_cancelled": cancelled,
    }


# ---------------------------------------------------------------------------- the Structure


def measure_structure(token: str, page: int, requests: int) -> dict:
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    url = structure_url(page)
    for _ in range(2):  # warm the connection, the caches and the plan
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content!r}")
    times, queries = [], 0
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        queries = max(queries, len(captured.captured_queries))
        assert response.status_code == 200
    times.sort()
    return {
        "structure_p50_ms": statistics.median(times),
        "structure_p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "structure_queries": queries,
        "structure_count": response.json()["count"],
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
