"""The harness's steps that run inside Django, one database per process (the settings read
DATABASE_URL once): prepare the portfolio, grow the 10x copy, measure. Each returns a dict
that the orchestrator (bench.run) reads back as JSON."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import time

from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from backoffice.lib.dates import business_today
from installments.models import Plan

from . import generate, measure, structure_timing
from .scale import SCALES

logger = logging.getLogger("bench")


def _renice_backend(niceness: int = 10) -> None:
    """The bulk loads run in this connection's PostgreSQL backend: lower its priority too,
    other people share the cores (possible only where we own or administer the server)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, niceness)


def _meta(key: str) -> dict | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value jsonb NOT NULL)"
        )
        cursor.execute("SELECT value FROM bench_meta WHERE key = %s", [key])
        row = cursor.fetchone()
    if row is None:
        return None
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])


def _store_meta(key: str, value: dict) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, json.dumps(value)],
        )


def migrate() -> bool:
    """Bring the database to the code's schema; True when a migration ran. A migration that
    rewrites rows leaves pages off the visibility map: a reused portfolio is then vacuumed, as
    a new one is, so that its reads stay index-only where they can be."""
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    call_command("migrate", verbosity=0, interactive=False)
    return bool(pending)


def prepare(*, scale_name: str, regenerate: bool, today: dt.date | None = None) -> dict:
    """Migrate; reuse the portfolio already loaded at this scale by this generator version,
    or load a new one."""
    migrated = migrate()
    existing = _meta("portfolio")
    if (
        existing
        and not regenerate
        and existing.get("scale") == scale_name
        and existing.get("generator_version") == generate.GENERATOR_VERSION
    ):
        logger.info("reusing the %s portfolio generated on %s", scale_name, existing["today"])
        if migrated:
            generate.vacuum()
        return {**existing, "reused": True}
    _renice_backend()
    started = time.perf_counter()
    logger.info("generating the %s portfolio", scale_name)
    meta = generate.load_portfolio(scale=SCALES[scale_name], today=today or business_today())
    generate.vacuum()
    meta["generate_seconds"] = round(time.perf_counter() - started, 1)
    meta["generated_at"] = dt.datetime.now(dt.UTC).isoformat()
    _store_meta("portfolio", meta)
    _store_meta("grown", {})
    logger.info("generated in %.0f s", meta["generate_seconds"])
    return {**meta, "reused": False}


def grow(*, factor: int) -> dict:
    portfolio = _meta("portfolio")
    if portfolio is None:
        raise RuntimeError("no portfolio to grow")
    _renice_backend()
    started = time.perf_counter()
    logger.info("growing the portfolio to %d×", factor)
    today = dt.date.fromisoformat(portfolio["today"])
    result = generate.grow(factor=factor, today=today)
    result["clone_reminders"] = clone_reminders_sent(today)
    generate.vacuum((*generate.GROWN_TABLES, "reminders_reminder"))
    result["grow_seconds"] = round(time.perf_counter() - started, 1)
    result["from"] = portfolio["generated_at"]
    _store_meta("grown", result)
    logger.info("grown in %.0f s", result["grow_seconds"])
    return result


def clone_reminders_sent(today: dt.date) -> int:
    """The clones are inert history for the reminders too: every reminder true today for a
    cloned plan (those on track, due within days) is in the outbox as already sent, written
    by the product's own row builder. So tonight's scan reads ten times the candidates and
    the outbox's constraints refuse the clones' rows, but writes the same rows as at 1x."""

    from reminders.models import CadenceStep
    from reminders.scan import scan_scope, window_plan_ids

    clone_plans = set(
        Plan.objects.filter(investor_id__gte=generate.CLONE_ID_STRIDE).values_list("pk", flat=True)
    )
    scope = scan_scope(today, list(CadenceStep.objects.active()), previous=None)
    ids = [pk for pk in window_plan_ids(scope) if pk in clone_plans] if scope else []
    return _written_as_sent(ids, today)


def _written_as_sent(plan_ids: list[int], scan_date: dt.date) -> int:
    """Every reminder true on `scan_date` for these plans, in the outbox as already sent,
    written by the product's own row builder."""
    from django.db import transaction
    from django.utils import timezone

    from reminders.models import CadenceStep, Reminder
    from reminders.scan import outbox_insert, reminder_rows

    steps = list(CadenceStep.objects.active())
    now = measure.scan_moment(scan_date)
    written = 0
    with transaction.atomic():
        for start in range(0, len(plan_ids), 5000):
            batch = plan_ids[start : start + 5000]
            rows = reminder_rows(batch, scan_date=scan_date, now=now, steps=steps)
            inserted = outbox_insert(rows, scan_date=scan_date, run_id=None, now=now)
            Reminder.objects.filter(pk__in=[pk for pk, _ in inserted]).update(
                status="sent", sent_at=timezone.now(), dispatched_at=timezone.now()
            )
            written += len(inserted)
    return written


def last_night(today: dt.date) -> dict:
    """The portfolio's "the nightly scan ran last night", as the product records it: a
    completed ScanRun of yesterday, started at 02:00 business time, and in the outbox (as
    sent) every reminder true yesterday for the plans in a window. So the measured night is
    an ordinary one: the scan reads the night's changes (a step's first day, the payments
    recorded since, the holds that ended) and writes tonight's new reminders, as the floor
    and the per-plan loop do. Written once per database (the 10x copy too), committed."""
    from django.conf import settings
    from django.db import transaction

    from reminders.models import CadenceStep, ScanRun
    from reminders.scan import notice_plans, scan_scope, window_plan_ids

    yesterday = today - dt.timedelta(days=1)
    done = ScanRun.objects.filter(scan_date=yesterday, finished_at__isnull=False, caught_up=False)
    if done.exists():
        return {"last_night": "kept", "last_night_reminders": done.get().reminders_queued}
    scope = scan_scope(yesterday, list(CadenceStep.objects.active()), previous=None)
    # What the scan of yesterday read: every plan in a window, and the plans whose
    # cancellation notice was still news.
    ids = set(window_plan_ids(scope) if scope else [])
    ids.update(notice_plans(yesterday).values_list("pk", flat=True))
    with transaction.atomic():
        written = _written_as_sent(sorted(ids), yesterday)
        started = dt.datetime.combine(yesterday, dt.time(2), tzinfo=settings.BUSINESS_TIME_ZONE)
        run = ScanRun.objects.create(scan_date=yesterday, trigger="bench", reminders_queued=written)
        ScanRun.objects.filter(pk=run.pk).update(
            started_at=started, finished_at=started + dt.timedelta(minutes=5)
        )
    return {"last_night": "written", "last_night_reminders": written}


def last_night_of_portfolio() -> dict:
    """`last_night` for the portfolio's own day (the scan scaled out copies it after)."""
    return last_night(dt.date.fromisoformat(_meta("portfolio")["today"]))


def measure_delivery(*, scale_name: str) -> dict:
    from . import delivery

    scale = SCALES[scale_name]
    logger.info("timing delivery with one worker, then two, against a fake gateway")
    return delivery.measure_delivery(rows=scale.delivery_rows, runs=scale.delivery_runs)


# The tables a night's measurement writes and rolls back.
NIGHT_TABLES = (
    "clients_investor",
    "installments_plan",
    "installments_planevent",
    "reminders_reminder",
    "reminders_scanrun",
    "reminders_scanchunk",
)


def measure_database(*, scale_name: str, naive: bool, explain: bool) -> dict:
    scale = SCALES[scale_name]
    if migrate():  # the tenfold copy, made from an older schema
        generate.vacuum(generate.GROWN_TABLES)
    portfolio = _meta("portfolio")
    scan_date = dt.date.fromisoformat(portfolio["today"])
    setup = last_night(scan_date)
    logger.info("keeping the dashboard's figures, as after the night's scan")
    setup.update(structure_timing.keep_dashboard_figures(portfolio["top_token"]))
    # Every measurement of the night writes it and rolls it back (the scan, the floor, the
    # hand-over, the per-plan loop), on this database in earlier runs too: their dead rows
    # are vacuumed first, as autovacuum would have long since, so a run measures the same
    # tables as the one before it (a server with autovacuum off would otherwise make each
    # run slower than the last).
    generate.vacuum(NIGHT_TABLES)
    logger.info("measuring the scan of %s", scan_date)
    result = measure.measure_scan(scan_date, scale.scan_runs)
    result.update(setup)
    logger.info("timing the reminders queued and handed to the broker")
    result.update(measure.measure_reminders(scan_date, scale.scan_runs))
    if naive:
        logger.info("timing the per-plan loop")
        result.update(measure.measure_naive(scan_date, scale.naive_sample))
        same = (result["plans_cancelled"], result["reminders_written"])
        looped = (result["naive_plans_cancelled"], result["naive_reminders_written"])
        if not result["naive_extrapolated"] and looped != same:
            raise RuntimeError(
                f"the per-plan loop cancelled {looped[0]} plans and wrote {looped[1]} "
                f"reminders, the scan {same[0]} and {same[1]}"
            )
    # The timings above wrote and rolled back (the scan three times, the per-plan loop): the
    # dead rows they leave are vacuumed (autovacuum would only once a fifth of a table is
    # dead), so the reads below read the portfolio, not the harness's own leftovers.
    generate.vacuum(NIGHT_TABLES)
    logger.info("timing the Structure request")
    result.update(
        structure_timing.measure_structure(
            portfolio["top_token"], scale.page, scale.structure_requests
        )
    )
    logger.info("timing the dashboard request")
    result.update(
        structure_timing.measure_dashboard(portfolio["top_token"], scale.dashboard_requests)
    )
    logger.info("timing the dashboard request between two refreshes of its kept figures")
    result.update(
        structure_timing.measure_dashboard_between_refreshes(
            portfolio["top_token"], scale.dashboard_requests
        )
    )
    logger.info("timing the next night's refresh of the dashboard's kept figures")
    result.update(
        structure_timing.next_night_refresh(portfolio["top_token"], scale.dashboard_requests)
    )
    if explain:
        result["explain"] = measure.explain(scan_date, portfolio["top_token"], scale.page)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        result["database_size"] = cursor.fetchone()[0]
    return result
