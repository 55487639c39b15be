"""The reminder outbox: handing rows to the workers, delivering one row, re-dispatching.

Rows are written by the scan (reminders/scan.py) and handed to Celery by id after commit.
The delivery re-reads its row, claims it with a conditional UPDATE, checks that the message
is still true, renders it in the recipient's language and sends it. Every step is safe to
repeat: a second message for one row finds it claimed or sent and does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q, Sum
from django.template import Context, Template, TemplateSyntaxError

from backoffice.lib.dates import business_today
from clients.models import Investor
from installments.models import Plan, PlanStatus
from installments.rules import format_fraction, grace_deadline

from . import channels
from .models import (
    CHANNEL_ADDRESS,
    CadenceLevel,
    ChannelOptOut,
    MessageTemplate,
    Recipient,
    Reminder,
    ReminderStatus,
    Trigger,
)
from .rules import QuietHours, level_windows, retry_delay, shares_at_stake, window_for
from .selectors import nearest_participant

logger = logging.getLogger(__name__)

# A cancellation notice is still worth sending this many days after the cancellation (a
# scan that missed nights, a broker outage); later it is news nobody needs from us.
CANCELLED_NOTICE_DAYS = 7
PUBLISH_BATCH = 500


def quiet_hours() -> QuietHours | None:
    return QuietHours.parse(settings.REMINDER_QUIET_HOURS)


def not_before(now: dt.datetime, *, channel: str, zone) -> dt.datetime:
    """When a message on `channel` may go out to someone in `zone`: now, or the end of the
    quiet hours there."""
    quiet = quiet_hours()
    if quiet is None or channel not in settings.REMINDER_QUIET_CHANNELS:
        return now
    return quiet.next_allowed(now, zone)


def windows_by_recipient(levels) -> dict[str, list]:
    """The due-date levels' windows, per kind of recipient (each has its own sequence)."""
    by_recipient: dict[str, list[tuple[str, int]]] = {}
    for level in levels:
        if level.trigger == Trigger.DUE_DATE:
            by_recipient.setdefault(level.recipient, []).append((level.code, level.offset_days))
    return {recipient: level_windows(pairs) for recipient, pairs in by_recipient.items()}


# ---------------------------------------------------------------------------- dispatch


def dispatch(reminder_ids: list[int]) -> int:
    """Hand rows to the workers by id, in batches over one broker connection.

    Returns how many were handed over. When the broker cannot be reached the rows simply
    stay pending and un-dispatched: the periodic re-dispatch sends them once it is back.
    Called after commit (`dispatch_on_commit`), so a worker never looks for a row that is
    not there yet.
    """
    from .tasks import deliver_reminder

    if not reminder_ids:
        return 0
    handed = 0
    if deliver_reminder.app.conf.task_always_eager:
        # No broker (the demo): deliver in-process, one after the other.
        for reminder_id in reminder_ids:
            _mark_dispatched([reminder_id])
            deliver_reminder.delay(reminder_id)
            handed += 1
        return handed
    try:
        with deliver_reminder.app.connection_for_write() as connection:
            # Fail fast when the broker is down instead of retrying for the default minutes.
            connection.ensure_connection(max_retries=1)
            with connection.Producer() as producer:
                for start in range(0, len(reminder_ids), PUBLISH_BATCH):
                    batch = reminder_ids[start : start + PUBLISH_BATCH]
                    for reminder_id in batch:
                        deliver_reminder.apply_async((reminder_id,), producer=producer)
                    _mark_dispatched(batch)
                    handed += len(batch)
    except Exception as error:
        logger.warning(
            "broker unavailable, %d reminder(s) stay pending for the re-dispatch: %s",
            len(reminder_ids) - handed,
            error,
        )
    return handed


def _mark_dispatched(ids: list[int]) -> None:
    Reminder.objects.filter(pk__in=ids, status=ReminderStatus.PENDING).update(
        dispatched_at=models.functions.Now()
    )


def dispatch_on_commit(reminder_ids: list[int]) -> None:
    ids = list(reminder_ids)
    if ids:
        transaction.on_commit(lambda: dispatch(ids))


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


# ---------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class Delivery:
    outcome: str  # sent, skipped, failed, retry, deferred, not_due, taken, done, missing
    retry_in: int | None = None


def reminder_deliver(*, reminder_id: int, now: dt.datetime) -> Delivery:
    """Deliver one outbox row, at most once at a time and never when no longer true."""
    # The plan and installment are read after the claim, so "still true?" sees a payment
    # that committed while this message waited.
    reminder = Reminder.objects.select_related("recipient").filter(pk=reminder_id).first()
    if reminder is None:
        return Delivery("missing")
    if reminder.status not in (ReminderStatus.PENDING, ReminderStatus.SENDING):
        return Delivery("done")
    if reminder.status == ReminderStatus.PENDING:
        allowed = not_before(now, channel=reminder.channel, zone=reminder.recipient.zone)
        if allowed > now:
            # Night in the recipient's zone: wait for the morning. Not an ETA message (it
            # would sit for hours in the broker): the periodic re-dispatch picks the row up.
            Reminder.objects.filter(pk=reminder.pk, status=ReminderStatus.PENDING).update(
                scheduled_for=allowed, dispatched_at=None
            )
            return Delivery("deferred")
        if reminder.scheduled_for > now:
            return Delivery("not_due")

    # The claim: only one worker moves the row to "sending" (a duplicate message, a
    # redelivery after a worker died, two re-dispatches). An expired claim means the worker
    # holding it died mid-send; the lease is longer than the task's hard time limit.
    lease = dt.timedelta(seconds=settings.REMINDER_CLAIM_SECONDS)
    claimable = Q(status=ReminderStatus.PENDING, scheduled_for__lte=now) | Q(
        status=ReminderStatus.SENDING, claimed_until__lt=now
    )
    claimed = Reminder.objects.filter(claimable, pk=reminder.pk).update(
        status=ReminderStatus.SENDING, claimed_until=now + lease, attempts=F("attempts") + 1
    )
    if not claimed:
        return Delivery("taken")
    # What the claim wrote; the rest of the row is as read above.
    reminder.attempts += 1
    reminder.status = ReminderStatus.SENDING

    today = business_today(now)
    levels = list(CadenceLevel.objects.active())
    level = next((lv for lv in levels if lv.code == reminder.kind), None)
    why_not = reason_not_to_send(reminder, level=level, levels=levels, today=today)
    if why_not:
        _finish(reminder, ReminderStatus.SKIPPED, skip_reason=why_not[:200])
        return Delivery("skipped")
    try:
        message = compose(reminder, level=level, today=today)
        channels.send(reminder.channel, message)
    except (channels.TransportError, SoftTimeLimitExceeded) as error:
        text = str(error) or error.__class__.__name__
        if reminder.attempts >= settings.REMINDER_MAX_ATTEMPTS:
            _finish(reminder, ReminderStatus.FAILED, last_error=f"gave up: {text}")
            return Delivery("failed")
        delay = retry_delay(reminder.attempts, base_seconds=settings.REMINDER_RETRY_SECONDS)
        Reminder.objects.filter(pk=reminder.pk, status=ReminderStatus.SENDING).update(
            status=ReminderStatus.PENDING,
            scheduled_for=now + dt.timedelta(seconds=delay),
            dispatched_at=now,
            claimed_until=None,
            last_error=text,
        )
        return Delivery("retry", retry_in=delay)
    except (channels.PermanentError, TemplateSyntaxError, MessageTemplate.DoesNotExist) as error:
        _finish(reminder, ReminderStatus.FAILED, last_error=str(error) or repr(error))
        return Delivery("failed")
    _finish(reminder, ReminderStatus.SENT, sent_at=now)
    return Delivery("sent")


def _finish(reminder: Reminder, status: str, **fields) -> None:
    Reminder.objects.filter(pk=reminder.pk, status=ReminderStatus.SENDING).update(
        status=status, claimed_until=None, **fields
    )


def address(investor: Investor, channel: str) -> str:
    return (getattr(investor, CHANNEL_ADDRESS[channel]) or "").strip()


def reason_not_to_send(
    reminder: Reminder, *, level: CadenceLevel | None, levels: list[CadenceLevel], today: dt.date
):
    """Why the message is no longer true or wanted, or None to send it."""
    recipient = reminder.recipient
    if level is None or not level.is_active:
        return "its cadence level is switched off"
    if ChannelOptOut.objects.filter(investor=recipient, channel=reminder.channel).exists():
        return f"the recipient opted out of {reminder.get_channel_display()}"
    if not address(recipient, reminder.channel):
        return f"no {CHANNEL_ADDRESS[reminder.channel]} on file"
    if level.trigger == Trigger.DIGEST:
        if not recipient.is_participant:
            return "the recipient is no longer a participant"
        if reminder.digest_date < today:
            return f"the digest of {today} replaces it"
        return None
    plan = reminder.plan
    if level.trigger == Trigger.CANCELLED:
        if plan.status != PlanStatus.CANCELLED:
            return f"the plan is {plan.status} again"
        if plan.cancelled_on < today - dt.timedelta(days=CANCELLED_NOTICE_DAYS):
            return "the cancellation is too old to announce"
        return None
    installment = reminder.installment
    if installment.paid_on is not None:
        return f"installment #{installment.number} was paid on {installment.paid_on}"
    if plan.status != PlanStatus.ACTIVE:
        return f"the plan is {plan.status}"
    if plan.is_on_hold(today):
        return f"the plan is on hold until {plan.hold_until}"
    windows = windows_by_recipient(levels).get(level.recipient, [])
    window = window_for(windows, (today - installment.due_date).days)
    if window is None or window.code != level.code:
        return f"its message is no longer true on {today}"
    return None


# ---------------------------------------------------------------------------- rendering


def money(amount) -> str:
    return f"{Decimal(amount):.2f}"


def plan_context(plan: Plan, *, installment, today: dt.date) -> dict:
    """What an investor's message says: how much, by when, what is lost, how to pay, whom
    to call. Read from the data on the day of sending, so it is true when it arrives."""
    row = Plan.objects.with_overdue(today).select_related("package", "investor").get(pk=plan.pk)
    credited = row.ledger.aggregate(total=Sum("shares"))["total"] or 0
    stake = shares_at_stake(
        shares=row.shares, final_fraction=row.final_payment_fraction, credited=credited
    )
    participant = nearest_participant(row.investor)
    context = {
        "investor_name": row.investor.name,
        "plan_id": row.pk,
        "package": row.package.name,
        "currency": settings.CURRENCY,
        "overdue_amount": money(row.overdue_amount),
        "grace_deadline": row.grace_deadline.isoformat() if row.grace_deadline else "",
        "days_left": row.days_left,
        "shares_total": stake.total,
        "shares_credited": stake.credited,
        "shares_lost": stake.lost_if_cancelled,
        "final_shares": stake.final,
        "final_fraction": format_fraction(row.final_payment_fraction),
        "final_percent": round(float(row.final_payment_fraction) * 100),
        "cancelled_on": row.cancelled_on.isoformat() if row.cancelled_on else "",
        "payment_reference": f"PLAN-{row.pk}",
        "payment_instructions": settings.REMINDER_PAYMENT_INSTRUCTIONS,
        "participant_name": participant.name if participant else settings.REMINDER_SUPPORT_NAME,
        "participant_phone": participant.phone if participant else settings.REMINDER_SUPPORT_PHONE,
        "participant_email": participant.email if participant else settings.REMINDER_SUPPORT_EMAIL,
        "participant_messenger": participant.messenger if participant else "",
    }
    if installment is not None:
        context.update(
            installment_number=installment.number,
            due_date=installment.due_date.isoformat(),
            amount_due=money(installment.amount - installment.paid_amount),
            # Before the due date nothing is overdue yet: the deadline this installment sets.
            last_day_to_pay=(
                row.grace_deadline
                or grace_deadline(
                    installment.due_date,
                    hold_until=row.hold_until,
                    extended_to=row.grace_extended_to,
                )
            ).isoformat(),
        )
    return context


def digest_context(reminder: Reminder) -> dict:
    payload = reminder.payload or {}
    return {
        "participant_name": reminder.recipient.name,
        "digest_date": reminder.digest_date.isoformat(),
        "currency": settings.CURRENCY,
        "overdue_clients": payload.get("overdue_clients", 0),
        "due_soon_clients": payload.get("due_soon_clients", 0),
        "cancelled_plans": payload.get("cancelled_plans", 0),
        "urgent": payload.get("urgent", []),
        "more": payload.get("more", 0),
        "structure_url": settings.SITE_URL.rstrip("/") + "/structure/?overdue=true",
    }


def template_for(level: CadenceLevel, language: str) -> MessageTemplate:
    templates = {t.language: t for t in level.templates.filter(language__in=[language, "en"])}
    template = templates.get(language) or templates.get("en")
    if template is None:
        raise MessageTemplate.DoesNotExist(f"no text for {level.code} in {language} or English")
    return template


def render(text: str, context: dict) -> str:
    # Plain text for email bodies, SMS and messengers: no HTML escaping.
    return Template(text).render(Context(context, autoescape=False)).strip()


def compose(reminder: Reminder, *, level: CadenceLevel, today: dt.date) -> channels.Outgoing:
    if level.trigger == Trigger.DIGEST:
        context = digest_context(reminder)
    else:
        context = plan_context(reminder.plan, installment=reminder.installment, today=today)
    if level.recipient == Recipient.PARTICIPANT and level.trigger != Trigger.DIGEST:
        context["participant_name"] = reminder.recipient.name
    template = template_for(level, reminder.recipient.language)
    text = template.body if reminder.channel == "email" else template.short_text
    return channels.Outgoing(
        to=address(reminder.recipient, reminder.channel),
        subject=render(template.subject, context).replace("\n", " "),
        text=render(text, context),
        reference=f"reminder-{reminder.pk}",
    )


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
