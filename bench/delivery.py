"""`delivery_per_second_1`, `delivery_per_second_2`, `delivery_scaling`: reminders sent per
second by real Celery workers (one, then two) against a local fake gateway
(`bench.gateway`, a fixed latency per request).

The rows are the product's own: the SMS reminders true today (business time, the real
clock the workers read) for the plans in a step's window, built by `reminders.scan`'s row
builder and inserted with its `outbox_insert`, at most `Scale.delivery_rows` of them,
committed (the workers read them from other connections). Their ids are kept in
`bench_meta` until they are deleted at the end, so a run that dies leaves nothing behind
for the next one to find. Each timed run puts the same rows back to pending, hands them
over with the product's `dispatch` (one broker message per `REMINDER_DELIVER_BATCH` ids, on
the benchmark's Redis database) and polls until none is pending or sending. Every row must
end "sent" and have reached the gateway, or the run fails.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import statistics
import time

from django.db import connection, transaction
from django.db.models import Count
from django.test import override_settings
from django.utils import timezone

from backoffice.lib.dates import business_today
from reminders.models import CadenceStep, Channel, Reminder, ReminderStatus
from reminders.scan import outbox_insert, reminder_rows, scan_scope, window_plan_ids
from reminders.services import dispatch

from . import workers
from .gateway import LATENCY_SECONDS, FakeGateway

logger = logging.getLogger("bench")
META_KEY = "delivery_rows"
HTTP_CHANNELS = (Channel.SMS, Channel.MESSENGER)
WORKER_COUNTS = (1, 2)


def _meta_ids() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value jsonb NOT NULL)"
        )
        cursor.execute("SELECT value->'ids' FROM bench_meta WHERE key = %s", [META_KEY])
        row = cursor.fetchone()
    if row is None or row[0] is None:
        return []
    return list(row[0] if isinstance(row[0], list) else json.loads(row[0]))


def _store_ids(ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [META_KEY, json.dumps({"ids": ids})],
        )


def forget_rows() -> int:
    """Delete the rows an earlier delivery measurement wrote (and their record)."""
    ids = _meta_ids()
    with transaction.atomic():
        deleted, _ = Reminder.objects.filter(pk__in=ids).delete()
        _store_ids([])
    return deleted


def write_rows(limit: int, *, now: dt.datetime) -> list[int]:
    """The SMS and messenger reminders true today for the plans in a window, at most `limit`,
    committed; their ids recorded for `forget_rows`."""
    today = business_today(now)
    steps = list(CadenceStep.objects.active())
    scope = scan_scope(today, steps, previous=None)
    plan_ids = window_plan_ids(scope) if scope else []
    rows = [
        row
        for row in reminder_rows(plan_ids, scan_date=today, now=now, steps=steps)
        if row.channel in HTTP_CHANNELS
    ]
    with transaction.atomic():
        inserted = outbox_insert(rows, scan_date=today, run_id=None, now=now)
        ids = sorted(pk for pk, _ in inserted)
        keep, drop = ids[:limit], ids[limit:]
        Reminder.objects.filter(pk__in=drop).delete()
        _store_ids(keep)
    return keep


def _reset(ids: list[int]) -> None:
    Reminder.objects.filter(pk__in=ids).update(
        status=ReminderStatus.PENDING,
        attempts=0,
        scheduled_for=timezone.now() - dt.timedelta(minutes=1),
        dispatched_at=None,
        claimed_until=None,
        send_started_at=None,
        sent_at=None,
        last_error="",
        skip_reason="",
    )


def _timed_run(ids: list[int], gateway: FakeGateway, timeout: float) -> dict:
    _reset(ids)
    gateway.reset()
    open_statuses = (ReminderStatus.PENDING, ReminderStatus.SENDING)
    started = time.perf_counter()
    handed = dispatch(ids)
    if handed != len(ids):
        raise RuntimeError(f"the broker took {handed} of {len(ids)} reminders")
    deadline = started + timeout
    while Reminder.objects.filter(pk__in=ids, status__in=open_statuses).exists():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"delivery of {len(ids)} reminders not done after {timeout:.0f} s")
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    sent = Reminder.objects.filter(pk__in=ids, status=ReminderStatus.SENT).count()
    reached = {f"reminder-{pk}" for pk in ids} & gateway.delivered()
    if sent != len(ids) or len(reached) != len(ids):
        outcomes = dict(
            Reminder.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("id"))
        )
        raise RuntimeError(
            f"{len(ids)} reminders: {sent} sent, {len(reached)} at the gateway; {outcomes}"
        )
    return {"seconds": seconds, "most_in_flight": gateway.most_in_flight}


def measure_delivery(*, rows: int, runs: int, timeout: float = 600) -> dict:
    """Reminders sent per second with one worker, then two; the median of `runs` each."""
    forget_rows()
    broker_url = os.environ["CELERY_BROKER_URL"]
    import redis

    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    with override_settings(REMINDER_QUIET_HOURS=""):
        ids = write_rows(rows, now=timezone.now())
    if not ids:
        raise RuntimeError("no SMS reminder is true today in this portfolio")
    per_count: dict[int, list[dict]] = {}
    try:
        with FakeGateway() as gateway:
            env = {
                "SMS_BACKEND": "reminders.channels.HttpSmsGateway",
                "SMS_GATEWAY_URL": f"{gateway.url}/sms",
                "SMS_GATEWAY_TOKEN": "bench",
                "MESSENGER_BACKEND": "reminders.channels.HttpMessengerGateway",
                "MESSENGER_GATEWAY_URL": f"{gateway.url}/messenger",
                "MESSENGER_GATEWAY_TOKEN": "bench",
                # The real clock: no row waits for a morning while it is measured.
                "REMINDER_QUIET_HOURS": "",
            }
            for count in WORKER_COUNTS:
                with workers.running(count, env, name="deliver"):
                    per_count[count] = [_timed_run(ids, gateway, timeout) for _ in range(runs)]
                logger.info(
                    "delivery with %d worker(s): %s s",
                    count,
                    ", ".join(f"{r['seconds']:.2f}" for r in per_count[count]),
                )
    finally:
        forget_rows()
        broker.flushdb()
    rates = {
        count: len(ids) / statistics.median(r["seconds"] for r in results)
        for count, results in per_count.items()
    }
    return {
        "delivery_per_second_1": rates[1],
        "delivery_per_second_2": rates[2],
        "delivery_scaling": rates[2] / rates[1],
        "delivery_rows": len(ids),
        "delivery_runs": {
            str(count): [round(r["seconds"], 3) for r in results]
            for count, results in per_count.items()
        },
        "delivery_most_in_flight": {
            str(count): max(r["most_in_flight"] for r in results)
            for count, results in per_count.items()
        },
        "delivery_gateway_latency_ms": LATENCY_SECONDS * 1000,
    }
