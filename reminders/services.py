"""The reminder outbox: handing rows to the workers, delivering one row, re-dispatching.

Rows are written by the scan (reminders/scan/) and handed to Celery by id after commit.
The delivery re-reads its row, claims it with a conditional UPDATE, checks that the message
is still true, renders it in the recipient's language and sends it. Every step is safe to
repeat: a second message for one row finds it claimed or sent and does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Sum
from django.template import Context, Template, TemplateSyntaxError

from backoffice.lib.dates import business_today
from clients.models import Investor
from clients.selectors import nearest_participants
from installments.models import Installment, Plan, PlanStatus, ShareLedgerEntry
from installments.rules import format_fraction, grace_deadline

from . import broker, channels
from .models import (
    CHANNEL_ADDRESS,
    CadenceStep,
    ChannelOptOut,
    MessageTemplate,
    Recipient,
    Reminder,
    ReminderStatus,
    Trigger,
)
from .rules import (
    QuietHours,
    days_from_due,
    notice_from,
    retry_delay,
    shares_at_stake,
    step_windows,
    window_for,
)

logger = logging.getLogger(__name__)

PUBLISH_BATCH = 500  # rows recorded as handed over per UPDATE
# Ids per broker message (REMINDER_DELIVER_BATCH): one message, a few queries, many sends.
DELIVER_BATCH = 100


def quiet_hours() -> QuietHours | None:
    return QuietHours.parse(settings.REMINDER_QUIET_HOURS)


def not_before(now: dt.datetime, *, channel: str, zone) -> dt.datetime:
    """When a message on `channel` may go out to someone in `zone`: now, or the end of the
    quiet hours there."""
    quiet = quiet_hours()
    if quiet is None or channel not in settings.REMINDER_QUIET_CHANNELS:
        return now
    return quiet.next_allowed(now, zone)


def windows_by_recipient(steps) -> dict[str, list]:
    """The due-date steps' windows, per kind of recipient (each has its own sequence)."""
    by_recipient: dict[str, list[tuple[str, int]]] = {}
    for step in steps:
        if step.trigger == Trigger.DUE_DATE:
            by_recipient.setdefault(step.recipient, []).append((step.code, step.offset_days))
    return {recipient: step_windows(pairs) for recipient, pairs in by_recipient.items()}


def due_date_windows(steps) -> list:
    """Every due-date step's window, whoever it is for."""
    return [window for windows in windows_by_recipient(steps).values() for window in windows]


# ---------------------------------------------------------------------------- dispatch


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
    from .tasks import deliver_batch

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


# ---------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class Delivery:
    outcome: str  # sent, skipped, failed, retry, deferred, not_due, taken, done, missing
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
    4. Send each and record it at once: a worker that dies mid-batch has recorded every
       message it sent; its other claimed rows are taken over when their lease runs out.
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
    for reminder in batch:  # what the claim wrote; the rest of the row is as read above
        reminder.attempts = claimed[reminder.pk]
        reminder.status = ReminderStatus.SENDING
    facts = _Facts.read(batch, now=now)
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


def _claim(ids: list[int], *, now: dt.datetime) -> dict[int, int]:
    """Move the claimable rows among `ids` to "sending" in one statement; returns the rows
    this call claimed with their attempt count. An expired claim means the worker holding it
    died mid-send; the lease is longer than the task's hard time limit."""
    if not ids:
        return {}
    ops = connection.ops
    lease = now + dt.timedelta(seconds=settings.REMINDER_CLAIM_SECONDS)
    at = ops.adapt_datetimefield_value(now)
    table = ops.quote_name(Reminder._meta.db_table)
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, claimed_until = %s, attempts = attempts + 1 "
            f"WHERE id IN ({marks}) AND ((status = %s AND scheduled_for <= %s) "
            "OR (status = %s AND claimed_until < %s)) RETURNING id, attempts",
            [
                ReminderStatus.SENDING,
                ops.adapt_datetimefield_value(lease),
                *ids,
                ReminderStatus.PENDING,
                at,
                ReminderStatus.SENDING,
                at,
            ],
        )
        return dict(cursor.fetchall())


def _release(ids: list[int]) -> None:
    if ids:
        Reminder.objects.filter(pk__in=ids, status=ReminderStatus.SENDING).update(
            status=ReminderStatus.PENDING,
            claimed_until=None,
            dispatched_at=None,
            attempts=F("attempts") - 1,
        )


def _deliver_claimed(reminder: Reminder, *, facts: _Facts, now: dt.datetime) -> Delivery:
    step = facts.steps.get(reminder.kind)
    why_not = reason_not_to_send(reminder, step=step, facts=facts)
    if why_not:
        _finish(reminder, ReminderStatus.SKIPPED, skip_reason=why_not[:200])
        return Delivery("skipped")
    try:
        message = compose(reminder, step=step, facts=facts)
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
        if isinstance(error, SoftTimeLimitExceeded):
            raise
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


@dataclass
class _Facts:
    """What a batch's messages say, read once for the batch after the claim."""

    today: dt.date
    steps: dict[str, CadenceStep]
    windows: dict[str, list]
    opted_out: set[tuple[int, str]]
    plans: dict[int, Plan]
    installments: dict[int, Installment]
    credited: dict[int, int]
    participants: dict[int, Investor]
    templates: dict[tuple[int, str], MessageTemplate]

    @classmethod
    def read(cls, batch: list[Reminder], *, now: dt.datetime) -> _Facts:
        today = business_today(now)
        steps = list(CadenceStep.objects.active())
        plan_ids = {r.plan_id for r in batch if r.plan_id}
        plans = {
            plan.pk: plan
            for plan in Plan.objects.with_overdue(today)
            .select_related("package", "investor")
            .filter(pk__in=plan_ids)
        }
        credited = dict(
            ShareLedgerEntry.objects.filter(plan_id__in=plan_ids)
            .values("plan_id")
            .annotate(total=Sum("shares"))
            .values_list("plan_id", "total")
        )
        installments = Installment.objects.in_bulk(
            {r.installment_id for r in batch if r.installment_id}
        )
        kinds = {r.kind for r in batch}
        templates = {
            (t.step_id, t.language): t for t in MessageTemplate.objects.filter(step__code__in=kinds)
        }
        return cls(
            today=today,
            steps={step.code: step for step in steps},
            windows=windows_by_recipient(steps),
            opted_out=set(
                ChannelOptOut.objects.filter(
                    investor_id__in={r.recipient_id for r in batch}
                ).values_list("investor_id", "channel")
            ),
            plans=plans,
            installments=installments,
            credited=credited,
            participants=nearest_participants(plan.investor for plan in plans.values()),
            templates=templates,
        )


def reason_not_to_send(reminder: Reminder, *, step: CadenceStep | None, facts: _Facts):
    """Why the message is no longer true or wanted, or None to send it."""
    recipient = reminder.recipient
    today = facts.today
    if step is None or not step.is_active:
        return "its cadence step is switched off"
    if (recipient.pk, reminder.channel) in facts.opted_out:
        return f"the recipient opted out of {reminder.get_channel_display()}"
    if not address(recipient, reminder.channel):
        return f"no {CHANNEL_ADDRESS[reminder.channel]} on file"
    if step.trigger == Trigger.DIGEST:
        if not recipient.is_participant:
            return "the recipient is no longer a participant"
        if reminder.digest_date < today:
            return f"the digest of {today} replaces it"
        return None
    plan = facts.plans[reminder.plan_id]
    if step.trigger == Trigger.CANCELLED:
        if plan.status != PlanStatus.CANCELLED:
            return f"the plan is {plan.status} again"
        if plan.cancelled_on < notice_from(today):
            return "the cancellation is too old to announce"
        return None
    installment = facts.installments[reminder.installment_id]
    if installment.paid_on is not None:
        return f"installment #{installment.number} was paid on {installment.paid_on}"
    if plan.status != PlanStatus.ACTIVE:
        return f"the plan is {plan.status}"
    if plan.is_on_hold(today):
        return f"the plan is on hold until {plan.hold_until}"
    windows = facts.windows.get(step.recipient, [])
    window = window_for(windows, days_from_due(installment.due_date, today))
    if window is None or window.code != step.code:
        return f"its message is no longer true on {today}"
    return None


# ---------------------------------------------------------------------------- rendering


def money(amount) -> str:
    return f"{Decimal(amount):.2f}"


def plan_context(
    row: Plan, *, installment, today: dt.date, credited: int, participant: Investor | None
) -> dict:
    """What an investor's message says: how much, by when, what is lost, how to pay, whom
    to call. `row` is read with `with_overdue(today)` on the day of sending, so it is true
    when it arrives."""
    stake = shares_at_stake(
        shares=row.shares, final_fraction=row.final_payment_fraction, credited=credited
    )
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


def template_for(
    step: CadenceStep, language: str, templates: dict | None = None
) -> MessageTemplate:
    """The step's text in `language`, else in English. `templates` by (step id, language),
    read once for a batch; read here when not given."""
    if templates is None:
        wanted = step.templates.filter(language__in=[language, "en"])
        templates = {(t.step_id, t.language): t for t in wanted}
    template = templates.get((step.pk, language)) or templates.get((step.pk, "en"))
    if template is None:
        raise MessageTemplate.DoesNotExist(f"no text for {step.code} in {language} or English")
    return template


@lru_cache(maxsize=256)
def _compiled(text: str) -> Template:
    # Compiling is most of rendering's cost; texts change rarely (an edit is a new key).
    return Template(text)


def render(text: str, context: dict) -> str:
    # Plain text for email bodies, SMS and messengers: no HTML escaping.
    return _compiled(text).render(Context(context, autoescape=False)).strip()


def compose(reminder: Reminder, *, step: CadenceStep, facts: _Facts) -> channels.Outgoing:
    if step.trigger == Trigger.DIGEST:
        context = digest_context(reminder)
    else:
        plan = facts.plans[reminder.plan_id]
        context = plan_context(
            plan,
            installment=facts.installments.get(reminder.installment_id),
            today=facts.today,
            credited=facts.credited.get(plan.pk) or 0,
            participant=facts.participants.get(plan.investor_id),
        )
    if step.recipient == Recipient.PARTICIPANT and step.trigger != Trigger.DIGEST:
        context["participant_name"] = reminder.recipient.name
    template = template_for(step, reminder.recipient.language, facts.templates)
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
