"""What a batch's messages say, read once after the claim, and whether each is still true."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Sum

from backoffice.lib.dates import business_today
from clients.models import Investor
from clients.selectors import nearest_participants
from installments.models import Installment, Plan, PlanStatus, ShareLedgerEntry

from ..models import CHANNEL_ADDRESS, CadenceStep, ChannelOptOut, MessageTemplate, Reminder, Trigger
from ..rules import days_from_due, notice_from, window_for
from .cadence import windows_by_recipient


def address(investor: Investor, channel: str) -> str:
    return (getattr(investor, CHANNEL_ADDRESS[channel]) or "").strip()


@dataclass
class Facts:
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
    def read(cls, batch: list[Reminder], *, now: dt.datetime) -> Facts:
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


def reason_not_to_send(reminder: Reminder, *, step: CadenceStep | None, facts: Facts):
    """Why the message is no longer true or wanted, or None to send it."""
    recipient = reminder.recipient
    today = facts.today
    if step is None or not step.is_active:
        return "its cadence step is switched off"
    if (recipient.pk, reminder.channel) in facts.opted_out:
        return f"the recipient opted out of {reminder.get_channel_display()}"
    if not address(recipient, reminder.channel):
        return f"no {CHANNEL_ADDRESS[reminder.channel]} on file"
    if step.trigger == Trigger.INVITATION:
        return None  # whether the link still works is the page's to say
    if step.trigger == Trigger.DIGEST:
        if not recipient.is_participant:
            return "the recipient is no longer a participant"
        if reminder.digest_date < today:
            return f"the digest of {today} replaces it"
        return None
    plan = facts.plans[reminder.plan_id]
    if step.trigger == Trigger.HELP_REQUEST:
        if not recipient.is_participant:
            return "the recipient is no longer a participant"
        return None
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
