"""Handing outbox rows to the workers by id, and handing them over again (the periodic
re-dispatch, the admin's "try again")."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models, transaction

from .. import broker
from ..models import Reminder, ReminderStatus

PUBLISH_BATCH = 500  # rows recorded as handed over per UPDATE
# Ids per broker message (REMINDER_DELIVER_BATCH): one message, a few queries, many sends.
DELIVER_BATCH = 100


def deliver_batch_size() -> int:
    return max(1, int(getattr(settings, "REMINDER_DELIVER_BATCH", DELIVER_BATCH)))


def dispatch(reminder_ids: list[int], *, marked: bool = False) -> int:
    """Hand rows to the workers by id: one broker message per batch of ids
    (REMINDER_DELIVER_BATCH, default 100), all over one broker connection.

    Returns how many rows were handed over. When the broker cannot be reached the rows simply
    stay pending and un-dispatched: the periodic re-dispatch sends them once it is back.
    Called after commit (`dispatch_on_commit`), so a worker never looks for a row that is
    not there yet. `marked`: the rows were written with `dispatched_at` already set (the
    scan's insert), so only the rows the broker refused are updated.
    """
    from ..tasks import deliver_batch

    ids = list(reminder_ids)
    if not ids:
        return 0
    size = deliver_batch_size()
    batches = [ids[start : start + size] for start in range(0, len(ids), size)]
    handed = 0
    if deliver_batch.app.conf.task_always_eager:
        # No broker (the demo): deliver in-process, one batch after the other.
        for batch in batches:
            if not marked:
                _mark_dispatched(batch)
            deliver_batch.delay(batch)
            handed += len(batch)
        return handed
    # A few messages, then one UPDATE recording them: the rows marked are exactly those a
    # message carries, should the broker go away halfway.
    per_mark = max(1, PUBLISH_BATCH // size)
    groups = [
        [(batch,) for batch in batches[start : start + per_mark]]
        for start in range(0, len(batches), per_mark)
    ]

    def handed_over(group) -> None:
        if not marked:
            _mark_dispatched([pk for (batch,) in group for pk in batch])

    done = broker.publish(
        deliver_batch,
        groups,
        fallback="reminder(s) stay pending for the re-dispatch",
        after_group=handed_over,
        weight=lambda args: len(args[0]),
    )
    handed = sum(len(batch) for group in groups[:done] for (batch,) in group)
    if marked and handed < len(ids):
        Reminder.objects.filter(pk__in=ids[handed:], status=ReminderStatus.PENDING).update(
            dispatched_at=None
        )
    return handed


def _mark_dispatched(ids: list[int]) -> None:
    Reminder.objects.filter(pk__in=ids, status=ReminderStatus.PENDING).update(
        dispatched_at=models.functions.Now()
    )


def dispatch_on_commit(reminder_ids: list[int], *, marked: bool = False) -> None:
    ids = list(reminder_ids)
    if ids:
        transaction.on_commit(lambda: dispatch(ids, marked=marked))


def reminders_redispatch(*, now: dt.datetime, limit: int = 20000) -> int:
    """Hand over again what is waiting: pending rows whose time has come (quiet hours
    ended, a retry is due, the broker was down at the scan) and rows abandoned mid-send by
    a worker that died. Run periodically by beat."""
    stale_before = now - dt.timedelta(seconds=settings.REMINDER_REDISPATCH_AFTER_SECONDS)
    ids = list(
        Reminder.objects.due_for_dispatch(now=now, stale_before=stale_before)
        .order_by("scheduled_for", "id")
        .values_list("pk", flat=True)[:limit]
    )
    return dispatch(ids)


def reminder_retry(*, reminders, now: dt.datetime) -> int:
    """The admin's "try again" for failed rows: back to pending, attempts reset, handed over
    after commit."""
    ids = list(reminders.filter(status=ReminderStatus.FAILED).values_list("pk", flat=True))
    with transaction.atomic():
        Reminder.objects.filter(pk__in=ids, status=ReminderStatus.FAILED).update(
            status=ReminderStatus.PENDING, attempts=0, scheduled_for=now, dispatched_at=None
        )
        dispatch_on_commit(ids)
    return len(ids)


def reminder_resend(*, reminders, now: dt.datetime) -> int:
    """The admin's "resend" for uncertain rows (a worker died while sending them on a channel
    that cannot drop a repeat): the admin has judged a second copy better than none. Back to
    pending, attempts reset, handed over after commit."""
    ids = list(reminders.filter(status=ReminderStatus.UNCERTAIN).values_list("pk", flat=True))
    with transaction.atomic():
        Reminder.objects.filter(pk__in=ids, status=ReminderStatus.UNCERTAIN).update(
            status=ReminderStatus.PENDING,
            attempts=0,
            scheduled_for=now,
            dispatched_at=None,
            send_started_at=None,
        )
        dispatch_on_commit(ids)
    return len(ids)
