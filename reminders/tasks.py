"""Celery tasks: thin interfaces over reminders.scan and reminders.services.

Each takes ids (or nothing), computes "now" and the business date at the edge, and calls a
service. All are idempotent and `acks_late`: a worker that dies mid-task leaves the message
to be redelivered, and the service's claims make the second run harmless.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from backoffice.lib.dates import business_today

from . import scan, services

logger = logging.getLogger(__name__)


@shared_task(name="reminders.scan_nightly", acks_late=True, soft_time_limit=1500, time_limit=1800)
def scan_nightly() -> int:
    """The nightly scan (beat, 02:00 business time by default): cancel, then queue."""
    now = timezone.now()
    report = scan.scan(scan_date=business_today(now), now=now, trigger="schedule")
    return report.run.pk


@shared_task(
    bind=True,
    name="reminders.run_scan_chunk",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=240,
    time_limit=300,
    max_retries=5,
)
def run_scan_chunk(self, chunk_id: int) -> int:
    try:
        return scan.scan_chunk_run(chunk_id=chunk_id, now=timezone.now())
    except Exception as error:
        scan.scan_chunk_failed(chunk_id=chunk_id, error=repr(error))
        if self.request.is_eager:
            raise
        raise self.retry(exc=error, countdown=30 * 2**self.request.retries) from None


@shared_task(
    bind=True,
    name="reminders.deliver",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=30,
    time_limit=60,
    max_retries=None,  # the row's attempts decide (REMINDER_MAX_ATTEMPTS)
)
def deliver_reminder(self, reminder_id: int) -> str:
    """One row per message: what the hand-over published before batches (kept for messages
    still in a broker); new messages carry batches (`deliver_batch`)."""
    delivery = services.reminder_deliver(reminder_id=reminder_id, now=timezone.now())
    if delivery.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=delivery.retry_in)
    return delivery.outcome


@shared_task(
    bind=True,
    name="reminders.deliver_batch",
    acks_late=True,
    reject_on_worker_lost=True,
    # Below the claim's lease (REMINDER_CLAIM_SECONDS, 300 by default): a row is never
    # taken over while this task may still send it. At the soft limit the rows not yet
    # sent are handed back.
    soft_time_limit=200,
    time_limit=240,
)
def deliver_batch(self, reminder_ids: list[int]) -> dict[str, int]:
    """Deliver a batch of outbox rows by id. Rows whose send failed for a reason that may
    pass are back to pending with their next time; they come back in one message per
    delay (if it is lost, the periodic re-dispatch finds the rows)."""
    results = services.reminders_deliver(reminder_ids=reminder_ids, now=timezone.now())
    retries: dict[int, list[int]] = {}
    for pk, delivery in results.items():
        if delivery.retry_in is not None:
            retries.setdefault(delivery.retry_in, []).append(pk)
    if not self.request.is_eager:
        for delay, ids in retries.items():
            deliver_batch.apply_async((ids,), countdown=delay)
    outcomes: dict[str, int] = {}
    for delivery in results.values():
        outcomes[delivery.outcome] = outcomes.get(delivery.outcome, 0) + 1
    return outcomes


@shared_task(name="reminders.redispatch", acks_late=True, soft_time_limit=240, time_limit=300)
def redispatch_pending() -> int:
    """Hand over again what waits: pending rows whose time came, abandoned claims, and scan
    chunks that no worker finished."""
    now = timezone.now()
    return services.reminders_redispatch(now=now) + scan.chunks_redispatch(now=now)


@shared_task(name="reminders.check_scan", acks_late=True, soft_time_limit=60, time_limit=120)
def check_scan() -> bool:
    """Flag today's scan when it has not completed by now (beat, 06:00 by default)."""
    now = timezone.now()
    return scan.scan_check(scan_date=business_today(now), now=now) is not None
