"""The nightly scan: cancel what ran out of grace, then queue the reminders.

`scan()` is the one entry point: the beat task and `manage.py scan_overdue` both call it.

The package: `candidates` (which plans the night must look at), `rows` (the reminder and
digest rows and their insert into the outbox), `dispatch` (the chunks and the morning check).

1. Catch up: each night since the last completed scan that has no completed run is scanned
   late, for cancellation only (so a plan is cancelled on the date it would have been);
   reminders are queued once, for today, and only those still true today.
2. Cancel: `installments.services.plans_cancel_expired` (set-based, row-locked).
3. Queue: the plans that may need a reminder tonight are the night's changes, read off
   indexes (`candidate_plan_ids`: a step's first day, a payment or an admin act since the
   last scan, a hold that ended, a recent cancellation), so the cost follows the changes, not
   the number of plans inside the windows. They are split into chunks of plan ids,
   recorded as ScanChunk rows, and handed to the workers by id after commit (plus one
   chunk for the participants' digests). More workers, more chunks at once.
   A chunk inserts its reminder rows with ON CONFLICT DO NOTHING against the outbox's unique
   constraints, so a chunk run twice, a rescan or two scans at once never make a second copy.
   The last chunk to finish closes the ScanRun; once that commits, `signals.scan_finished`
   tells the floors above (the dashboard writes the day's snapshots).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from installments.services import Cancellation, plans_cancel_expired

from ..models import CadenceStep, ScanChunk, ScanRun
from ..signals import scan_finished_on_commit
from .candidates import (
    TOUCHED_MARGIN,
    Scope,
    candidate_plan_ids,
    changed_plan_ids,
    last_reminder_run,
    missed_dates,
    notice_plans,
    scan_scope,
    window_plan_ids,
)
from .digest import digest_rows
from .dispatch import (
    chunks_redispatch,
    dispatch_chunks,
    scan_check,
    scan_chunk_failed,
    scan_chunk_run,
)
from .rows import (
    CONTACT_FIELDS,
    ContactDetails,
    Row,
    contact_details,
    outbox_insert,
    reminder_rows,
    rows_not_queued,
)

__all__ = [
    "CONTACT_FIELDS",
    "TOUCHED_MARGIN",
    "ContactDetails",
    "Row",
    "ScanReport",
    "Scope",
    "candidate_plan_ids",
    "changed_plan_ids",
    "chunks_redispatch",
    "contact_details",
    "digest_rows",
    "dispatch_chunks",
    "last_reminder_run",
    "missed_dates",
    "notice_plans",
    "outbox_insert",
    "reminder_rows",
    "rows_not_queued",
    "scan",
    "scan_check",
    "scan_chunk_failed",
    "scan_chunk_run",
    "scan_scope",
    "window_plan_ids",
]

logger = logging.getLogger(__name__)


@dataclass
class ScanReport:
    scan_date: dt.date
    run: ScanRun | None
    cancellations: list[Cancellation] = field(default_factory=list)
    caught_up: list[ScanRun] = field(default_factory=list)
    reminders: int = 0  # queued (dry run: that the outbox does not hold yet)
    already_queued: int = 0  # dry run: found, but the outbox holds them already


def scan(
    *, scan_date: dt.date, now: dt.datetime, trigger: str = "schedule", dry_run: bool = False
) -> ScanReport:
    report = ScanReport(scan_date=scan_date, run=None)
    missed = missed_dates(scan_date)
    if dry_run:
        return _dry_run(report, missed, now=now)
    for night in missed:
        # A caught-up night's cancellations and its run commit together: a crash leaves
        # both or neither, and the rerun does the night again.
        with transaction.atomic():
            caught_up = ScanRun.objects.create(scan_date=night, trigger=trigger, caught_up=True)
            cancelled = plans_cancel_expired(scan_date=night, scan_run_id=caught_up.pk)
            ScanRun.objects.filter(pk=caught_up.pk).update(
                plans_cancelled=len(cancelled), finished_at=now
            )
            caught_up.refresh_from_db()
            scan_finished_on_commit(run_id=caught_up.pk, scan_date=night, caught_up=True)
        report.cancellations += cancelled
        report.caught_up.append(caught_up)
    size = settings.REMINDER_CHUNK_SIZE
    # The run is created first and updated in the transaction of the night's cancellations,
    # with its chunks: a rerun after any crash finds one record of what was cancelled, by
    # which run (each cancellation's audit entry names it).
    with transaction.atomic():
        run = ScanRun.objects.create(
            scan_date=scan_date,
            trigger=trigger,
            cancelled_since=missed[0] if missed else scan_date,
        )
        cancelled = plans_cancel_expired(scan_date=scan_date, scan_run_id=run.pk)
        plan_ids = candidate_plan_ids(scan_date)
        slices = [plan_ids[start : start + size] for start in range(0, len(plan_ids), size)]
        run.plans_cancelled = len(cancelled)
        run.chunks_total = len(slices) + 1
        run.save(update_fields=["plans_cancelled", "chunks_total"])
        lease = now + dt.timedelta(seconds=settings.REMINDER_CHUNK_LEASE_SECONDS)
        chunks = [ScanChunk(run=run, number=0, is_digest=True, claimed_until=lease)] + [
            ScanChunk(run=run, number=n, plan_ids=ids, claimed_until=lease)
            for n, ids in enumerate(slices, start=1)
        ]
        ScanChunk.objects.bulk_create(chunks)
        chunk_ids = list(run.chunks.order_by("number").values_list("pk", flat=True))
        transaction.on_commit(lambda: dispatch_chunks(chunk_ids))
    report.cancellations += cancelled
    report.run = run
    logger.info(
        "scan %s: %d plan(s) cancelled, %d plan(s) in %d chunk(s) for reminders",
        scan_date,
        len(report.cancellations),
        len(plan_ids),
        len(slices),
    )
    return report


def _dry_run(report: ScanReport, missed: list[dt.date], *, now: dt.datetime) -> ScanReport:
    """What the scan would do, written in a transaction that is rolled back: the same
    cancellations, then the reminders and digests they and the night call for (the notices of
    tonight's cancellations included), counted against what the outbox holds already."""
    scan_date = report.scan_date
    with transaction.atomic():
        for night in missed:
            report.cancellations += plans_cancel_expired(scan_date=night)
        report.cancellations += plans_cancel_expired(scan_date=scan_date)
        plan_ids = candidate_plan_ids(scan_date)
        steps = list(CadenceStep.objects.active())
        rows = reminder_rows(plan_ids, scan_date=scan_date, now=now, steps=steps)
        since = missed[0] if missed else scan_date
        rows += digest_rows(scan_date=scan_date, since=since, now=now, steps=steps)
        report.reminders = len(rows_not_queued(rows))
        report.already_queued = len(rows) - report.reminders
        transaction.set_rollback(True)
    return report
