"""Delivering outbox rows: claim, check, render, send, record."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F
from django.template import TemplateSyntaxError

from .. import channels
from ..models import MessageTemplate, Reminder, ReminderStatus
from ..rules import retry_delay
from .cadence import not_before
from .compose import compose
from .facts import Facts, reason_not_to_send

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    # sent, skipped, failed, uncertain, retry, deferred, not_due, taken, done, missing
    outcome: str
    retry_in: int | None = None


def reminder_deliver(*, reminder_id: int, now: dt.datetime) -> Delivery:
    """Deliver one outbox row (a batch of one)."""
    return reminders_deliver(reminder_ids=[reminder_id], now=now)[reminder_id]


def reminders_deliver(*, reminder_ids: list[int], now: dt.datetime) -> dict[int, Delivery]:
    """Deliver a batch of outbox rows, each at most once at a time and never when no longer
    true. A few queries for the batch (read, claim, the facts), one per row sent.

    1. Read the rows: gone or finished → nothing to do; pending in the recipient's quiet
       hours → wait for the morning; pending but not yet due → leave it.
    2. Claim the rest with one conditional UPDATE … RETURNING: only the rows this delivery
       moved to "sending" are its to send (a duplicate message, a redelivery after a worker
       died, two re-dispatches find them taken).
    3. Read what the messages say after the claim (plans, installments, opt-outs, cadence,
       texts), so "still true?" sees a payment that committed while the message waited.
    4. Send each and record it at once, on a fresh connection if the database dropped
       ours: a worker that dies mid-batch has recorded every message it sent; its other
       claimed rows are taken over when their lease runs out. The one it was sending
       follows its channel's guarantee (`channels.guarantee`): resent with the same
       idempotency key, resent (at least once), or "uncertain" for an admin (at most once).
    """
    results: dict[int, Delivery] = {}
    ids = list(dict.fromkeys(reminder_ids))
    rows = {r.pk: r for r in Reminder.objects.select_related("recipient").filter(pk__in=ids)}
    claimable = _claimable(ids, rows, results, now=now)
    claimed = _claim(claimable, now=now)
    for pk in claimable:
        if pk not in claimed:
            results[pk] = Delivery("taken")
    if not claimed:
        return results

    batch = [rows[pk] for pk in claimable if pk in claimed]
    lease = _lease(now)
    for reminder in batch:  # what the claim wrote; the rest of the row is as read above
        reminder.attempts, reminder.send_started_at = claimed[reminder.pk]
        reminder.status = ReminderStatus.SENDING
        reminder.claimed_until = lease
    facts = Facts.read(batch, now=now)
    with channels.sending():
        for position, reminder in enumerate(batch):
            try:
                results[reminder.pk] = _deliver_claimed(reminder, facts=facts, now=now)
            except SoftTimeLimitExceeded:
                # Out of time: this row was handled as a transport error; hand the rest
                # back untouched, for the next message or the re-dispatch.
                rest = [r.pk for r in batch[position + 1 :]]
                _release(rest)
                results.update({pk: Delivery("taken") for pk in rest})
                break
    return results


def _claimable(ids: list[int], rows: dict, results: dict, *, now: dt.datetime) -> list[int]:
    """Step 1 of `reminders_deliver`: the rows to claim among `ids`; the others get their
    outcome in `results` (night in the recipient's zone: moved to the morning)."""
    claimable = []
    deferrals: dict[dt.datetime, list[int]] = {}
    for pk in ids:
        reminder = rows.get(pk)
        if reminder is None:
            results[pk] = Delivery("missing")
        elif reminder.status not in (ReminderStatus.PENDING, ReminderStatus.SENDING):
            results[pk] = Delivery("done")
        elif reminder.status == ReminderStatus.SENDING:
            claimable.append(pk)
        else:
            allowed = not_before(now, channel=reminder.channel, zone=reminder.recipient.zone)
            if allowed > now:
                # Night in the recipient's zone: wait for the morning. Not an ETA message (it
                # would sit for hours in the broker): the periodic re-dispatch picks it up.
                deferrals.setdefault(allowed, []).append(pk)
                results[pk] = Delivery("deferred")
            elif reminder.scheduled_for > now:
                results[pk] = Delivery("not_due")
            else:
                claimable.append(pk)
    for allowed, deferred in deferrals.items():
        Reminder.objects.filter(pk__in=deferred, status=ReminderStatus.PENDING).update(
            scheduled_for=allowed, dispatched_at=None
        )
    return claimable


def _lease(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=settings.REMINDER_CLAIM_SECONDS)


def _claim(ids: list[int], *, now: dt.datetime) -> dict[int, tuple]:
    """Move the claimable rows among `ids` to "sending" in one statement; returns the rows
    this call claimed with their attempt count and, for a row taken over, when the dead
    worker began sending it (None if it never did). An expired claim means the worker
    holding it died mid-send; the lease is longer than the task's hard time limit."""
    if not ids:
        return {}
    ops = connection.ops
    lease = _lease(now)
    at = ops.adapt_datetimefield_value(now)
    table = ops.quote_name(Reminder._meta.db_table)
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, claimed_until = %s, attempts = attempts + 1, "
            # RETURNING gives the new row: a pending row's mark is cleared, a taken-over
            # row's is returned as the dead worker left it.
            "send_started_at = CASE WHEN status = %s THEN NULL ELSE send_started_at END "
            f"WHERE id IN ({marks}) AND ((status = %s AND scheduled_for <= %s) "
            "OR (status = %s AND claimed_until < %s)) "
            "RETURNING id, attempts, send_started_at",
            [
                ReminderStatus.SENDING,
                ops.adapt_datetimefield_value(lease),
                ReminderStatus.PENDING,
                *ids,
                ReminderStatus.PENDING,
                at,
                ReminderStatus.SENDING,
                at,
            ],
        )
        rows = cursor.fetchall()
    field = Reminder._meta.get_field("send_started_at")
    converters = connection.ops.get_db_converters(field.get_col(Reminder._meta.db_table))
    claimed = {}
    for pk, attempts, started in rows:
        for converter in converters:
            started = converter(started, field, connection)
        claimed[pk] = (attempts, started)
    return claimed


def _release(ids: list[int]) -> None:
    if ids:
        Reminder.objects.filter(pk__in=ids, status=ReminderStatus.SENDING).update(
            status=ReminderStatus.PENDING,
            claimed_until=None,
            dispatched_at=None,
            send_started_at=None,
            attempts=F("attempts") - 1,
        )


def _deliver_claimed(reminder: Reminder, *, facts: Facts, now: dt.datetime) -> Delivery:
    guarantee = channels.guarantee(reminder.channel)
    if reminder.send_started_at is not None and guarantee == channels.AT_MOST_ONCE:
        # Taken over from a worker that died after it began sending: the message may have
        # gone out, and this channel cannot drop a repeat. An admin decides (README).
        _finish(
            reminder,
            ReminderStatus.UNCERTAIN,
            last_error=(
                f"a worker stopped while sending it at {reminder.send_started_at:%Y-%m-%d %H:%M:%S}"
                " UTC: it may have gone out"
            ),
        )
        return Delivery("uncertain")
    step = facts.steps.get(reminder.kind)
    why_not = reason_not_to_send(reminder, step=step, facts=facts)
    if why_not:
        _finish(reminder, ReminderStatus.SKIPPED, skip_reason=why_not[:200])
        return Delivery("skipped")
    try:
        message = compose(reminder, step=step, facts=facts)
        if guarantee == channels.AT_MOST_ONCE and not _send_started(reminder, now=now):
            return Delivery("taken")
        channels.send(reminder.channel, message)
    except (channels.TransportError, SoftTimeLimitExceeded) as error:
        return _failed_for_now(reminder, error, now=now)
    except (channels.PermanentError, TemplateSyntaxError, MessageTemplate.DoesNotExist) as error:
        _finish(reminder, ReminderStatus.FAILED, last_error=str(error) or repr(error))
        return Delivery("failed")
    _finish(reminder, ReminderStatus.SENT, sent_at=now)
    return Delivery("sent")


def _failed_for_now(reminder: Reminder, error: Exception, *, now: dt.datetime) -> Delivery:
    """A transport error (or the time limit): back to pending with backoff, or failed for
    good after REMINDER_MAX_ATTEMPTS."""
    text = str(error) or error.__class__.__name__
    if reminder.attempts >= settings.REMINDER_MAX_ATTEMPTS:
        _finish(reminder, ReminderStatus.FAILED, last_error=f"gave up: {text}")
        return Delivery("failed")
    delay = retry_delay(reminder.attempts, base_seconds=settings.REMINDER_RETRY_SECONDS)
    _on_fresh_connection(
        lambda: Reminder.objects.filter(pk=reminder.pk, status=ReminderStatus.SENDING).update(
            status=ReminderStatus.PENDING,
            scheduled_for=now + dt.timedelta(seconds=delay),
            dispatched_at=now,
            claimed_until=None,
            send_started_at=None,
            last_error=text,
        )
    )
    if isinstance(error, SoftTimeLimitExceeded):
        raise error
    return Delivery("retry", retry_in=delay)


def _send_started(reminder: Reminder, *, now: dt.datetime) -> bool:
    """Mark the row as being sent, committed before the send; False if the claim was lost
    (its lease ran out and another delivery took the row over)."""
    return bool(
        _on_fresh_connection(
            lambda: Reminder.objects.filter(
                pk=reminder.pk, status=ReminderStatus.SENDING, claimed_until=reminder.claimed_until
            ).update(send_started_at=now)
        )
    )


def _finish(reminder: Reminder, status: str, **fields) -> None:
    _on_fresh_connection(
        lambda: Reminder.objects.filter(pk=reminder.pk, status=ReminderStatus.SENDING).update(
            status=status, claimed_until=None, **fields
        )
    )


RECORD_ATTEMPTS = 5


def _on_fresh_connection(write):
    """Run `write` (one idempotent statement), again on a new connection if the database
    dropped ours: a message sent and then lost from the record would be sent again. Inside
    a transaction there is nothing to retry on: the error goes up."""
    for attempt in range(RECORD_ATTEMPTS):
        try:
            return write()
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or attempt == RECORD_ATTEMPTS - 1:
                raise
            logger.warning("the database dropped the connection; recording again", exc_info=True)
            with contextlib.suppress(Exception):
                connection.close()
            time.sleep(min(0.1 * 2**attempt, 2.0))
    return None  # pragma: no cover - the loop returns or raises
