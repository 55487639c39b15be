"""The scan's chunks: handing them to the workers, running one, recording a failure,
handing the stale ones over again, closing the run when the last one is done, and the
morning check that flags a scan that did not complete."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import mail_admins
from django.db import models, transaction
from django.utils import timezone

from .. import broker
from ..models import CHECK_TRIGGER, CadenceStep, ScanChunk, ScanRun
from ..services import dispatch_on_commit
from ..signals import scan_finished_on_commit
from .candidates import DAY
from .digest import digest_rows
from .rows import outbox_insert, reminder_rows
from .sql import python_steps, reminders_insert

logger = logging.getLogger(__name__)


def dispatch_chunks(chunk_ids: list[int]) -> None:
    """Hand the chunks to the workers. A chunk the broker will not take is run here and
    now: writing reminder rows needs only the database, so a broker outage delays the
    sending, never the outbox."""
    from ..tasks import run_scan_chunk

    remaining = list(chunk_ids)
    # Handed over: nobody hands them over again before the lease ends.
    ScanChunk.objects.filter(pk__in=remaining, done_at__isnull=True).update(
        claimed_until=_lease(timezone.now())
    )
    if not run_scan_chunk.app.conf.task_always_eager:
        done = broker.publish(
            run_scan_chunk,
            [[(chunk_id,)] for chunk_id in remaining],
            fallback="scan chunk(s) run in-process",
        )
        remaining = remaining[done:]
    for chunk_id in remaining:
        scan_chunk_run(chunk_id=chunk_id, now=timezone.now())


def scan_chunk_run(*, chunk_id: int, now: dt.datetime) -> int:
    """Write one chunk's reminder rows and hand the new ones to the workers after commit.

    Returns the number of rows this run of the chunk inserted and handed over. Safe to run
    twice, and alongside another scan of the same date: the insert skips every row the
    outbox's unique constraints already hold, and returns only the rows it wrote.
    """
    chunk = ScanChunk.objects.select_related("run").filter(pk=chunk_id).first()
    if chunk is None or chunk.done_at is not None:
        return 0
    # Running from now: should this process die, the re-dispatch takes the chunk after the
    # lease (a second run of it, alongside, would only be refused by the outbox).
    ScanChunk.objects.filter(pk=chunk.pk, done_at__isnull=True).update(claimed_until=_lease(now))
    run = chunk.run
    steps = list(CadenceStep.objects.active())
    with transaction.atomic():
        if chunk.is_digest and _digests_written(run):
            inserted = []
        elif chunk.is_digest:
            rows = digest_rows(
                scan_date=run.scan_date,
                since=run.cancelled_since or run.scan_date,
                now=now,
                steps=steps,
            )
            inserted = outbox_insert(rows, scan_date=run.scan_date, run_id=run.pk, now=now)
        else:
            # The investors' steps in one statement; a step for the participant above them
            # through the Python rows (rare: none in the default cadence).
            inserted = reminders_insert(
                chunk.plan_ids, scan_date=run.scan_date, run_id=run.pk, now=now, steps=steps
            )
            if extra := python_steps(steps):
                rows = reminder_rows(chunk.plan_ids, scan_date=run.scan_date, now=now, steps=extra)
                inserted += outbox_insert(rows, scan_date=run.scan_date, run_id=run.pk, now=now)
        # The rows this run inserted (a concurrent scan's copies of the same reminders were
        # refused by the constraint and belong to that run): hand those whose time is now.
        ready = [pk for pk, due in inserted if due]
        ScanChunk.objects.filter(pk=chunk.pk, done_at__isnull=True).update(done_at=now)
        _close_run_if_done(run.pk, chunk_id=chunk.pk, now=now)
        dispatch_on_commit(ready, marked=True)
    return len(ready)


def _digests_written(run: ScanRun) -> bool:
    """A date's digests are built once: a run that cancelled nothing skips its digest when
    another run of the date has completed one that reported at least as far back (its
    cancellations since the same night or earlier). A rerun of the date (after a crash, or by
    hand) would only have them refused by the outbox, after reading every overdue client of
    the book to build them. A run that cancelled plans, or that caught up nights the other did
    not cover, builds its own: the participants hear of those cancellations."""
    if run.plans_cancelled:
        return False
    since = run.cancelled_since or run.scan_date
    return (
        ScanChunk.objects.filter(
            is_digest=True,
            done_at__isnull=False,
            run__scan_date=run.scan_date,
            run__caught_up=False,
        )
        .exclude(run=run)
        .filter(_reported_since_at_most(since, run.scan_date))
        .exists()
    )


def _reported_since_at_most(since: dt.date, scan_date: dt.date) -> models.Q:
    """The other run's digest reported cancellations from `since` or earlier (a run without
    `cancelled_since` reported from its own date)."""
    reported = models.Q(run__cancelled_since__lte=since)
    if since >= scan_date:
        reported |= models.Q(run__cancelled_since__isnull=True)
    return reported


def _lease(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=settings.REMINDER_CHUNK_LEASE_SECONDS)


def _chunk_error(chunk_id: int) -> str:
    return f"chunk {chunk_id}: "


def _close_run_if_done(run_id: int, *, chunk_id: int, now: dt.datetime) -> None:
    # The run's row lock serialises the chunks' last step: without it, two chunks finishing
    # at once would each still see the other unfinished, and nobody would close the run.
    run = ScanRun.objects.select_for_update().get(pk=run_id)
    # The chunk succeeded: its earlier failures are history, not the run's state (a run
    # reading "errors" for good would have the morning check alarm about a completed scan).
    kept = [
        line
        for line in run.errors.splitlines(keepends=True)
        if not line.startswith(_chunk_error(chunk_id))
    ]
    if len(kept) != len(run.errors.splitlines()):
        run.errors = "".join(kept)
        run.save(update_fields=["errors"])
    if run.finished_at is not None or run.chunks.filter(done_at__isnull=True).exists():
        return
    run.finished_at = now
    run.reminders_queued = run.reminders.count()
    run.save(update_fields=["finished_at", "reminders_queued"])
    scan_finished_on_commit(run_id=run.pk, scan_date=run.scan_date, caught_up=run.caught_up)


def scan_chunk_failed(*, chunk_id: int, error: str) -> None:
    """Record a chunk's failure on its run, for the admin (the chunk will be retried)."""
    run_id = ScanChunk.objects.filter(pk=chunk_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return
    ScanRun.objects.filter(pk=run_id).update(
        errors=models.functions.Concat(
            "errors",
            models.Value(_chunk_error(chunk_id) + " ".join(error.splitlines()) + "\n"),
            output_field=models.TextField(),
        )
    )


def chunks_redispatch(*, now: dt.datetime) -> int:
    """Unfinished chunks whose lease ran out: their worker or the in-process run of a scan
    died, or the broker lost them. Running a chunk twice is harmless."""
    ids = list(
        ScanChunk.objects.filter(
            models.Q(claimed_until__isnull=True) | models.Q(claimed_until__lt=now),
            done_at__isnull=True,
            # A chunk still unfinished after a day is for the admin (its run shows the error).
            created_at__gte=now - DAY,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if ids:
        dispatch_chunks(ids)
    return len(ids)


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
            run = ScanRun.objects.create(scan_date=scan_date, trigger=CHECK_TRIGGER, errors=problem)
        ScanRun.objects.filter(pk=run.pk).update(flagged_at=now)
    logger.error(problem)
    mail_admins(f"Nightly scan of {scan_date} not completed", problem, fail_silently=True)
    run.refresh_from_db()
    return run
