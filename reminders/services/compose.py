"""Rendering a reminder in the recipient's language from the editable texts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.template import Context, Template

from clients.models import Investor
from installments.models import Plan
from installments.rules import format_fraction, grace_deadline

from .. import channels
from ..models import CadenceStep, MessageTemplate, Recipient, Reminder, Trigger
from ..rules import shares_at_stake
from .facts import Facts, address


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


def compose(reminder: Reminder, *, step: CadenceStep, facts: Facts) -> channels.Outgoing:
    if step.trigger == Trigger.DIGEST:
        context = digest_context(reminder)
    elif step.trigger == Trigger.INVITATION:
        context = {"investor_name": reminder.recipient.name, **(reminder.payload or {})}
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
    if step.trigger == Trigger.HELP_REQUEST:
        payload = reminder.payload or {}
        context.update(
            message=payload.get("message", ""),
            contact_via=payload.get("contact_via", ""),
            investor_phone=plan.investor.phone,
            investor_email=plan.investor.email,
            investor_url=settings.SITE_URL.rstrip("/")
            + f"/structure/investors/{plan.investor_id}/",
        )
    template = template_for(step, reminder.recipient.language, facts.templates)
    text = template.body if reminder.channel == "email" else template.short_text
    return channels.Outgoing(
        to=address(reminder.recipient, reminder.channel),
        subject=render(template.subject, context).replace("\n", " "),
        text=render(text, context),
        reference=f"reminder-{reminder.pk}",
    )
