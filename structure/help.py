"""Writes of "Ask my participant for help": asking (one open request per plan, a second press
adds to it) and answering. The participant is told once, through the reminder outbox."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.lib.errors import ConflictError, DomainError
from clients.models import Investor
from clients.selectors import nearest_participant
from installments.models import Plan
from reminders.services.help import help_request_notify

from .models import HelpRequest

MESSAGE_MAX_LENGTH = 1000
CONTACT_VIA_MAX_LENGTH = 200


def _joined(old: str, new: str) -> str:
    return "\n".join(part for part in (old, new) if part)[: MESSAGE_MAX_LENGTH * 4]


def _at_most(limit: int) -> str:
    return _("At most %(limit)d characters.") % {"limit": limit}


def help_request_ask(
    *,
    investor: Investor,
    plan: Plan,
    today: dt.date,
    message: str = "",
    contact_via: str = "",
    now: dt.datetime | None = None,
) -> HelpRequest:
    """`investor` asks their participant for help with their `plan`. One transaction: the
    request (new, or the plan's open one with this message added) and the outbox rows."""
    if plan.investor_id != investor.pk:
        raise DomainError(_("This is not one of your plans."), field="plan")
    message, contact_via = (message or "").strip(), (contact_via or "").strip()
    if len(message) > MESSAGE_MAX_LENGTH:
        raise DomainError(_at_most(MESSAGE_MAX_LENGTH), field="message")
    if len(contact_via) > CONTACT_VIA_MAX_LENGTH:
        raise DomainError(_at_most(CONTACT_VIA_MAX_LENGTH), field="contact_via")
    now = now or timezone.now()
    with transaction.atomic():
        request = _open_request_for_update(plan)
        if request is None:
            try:
                with transaction.atomic():  # a savepoint: a concurrent first press may win
                    request = HelpRequest.objects.create(
                        plan=plan,
                        investor=investor,
                        message=message,
                        contact_via=contact_via,
                        asked_at=now,
                        last_asked_at=now,
                    )
            except IntegrityError:
                # A concurrent first press committed its request: this press adds to it.
                request = _added_to(
                    _open_request_for_update(plan),
                    message=message,
                    contact_via=contact_via,
                    now=now,
                )
        else:
            request = _added_to(request, message=message, contact_via=contact_via, now=now)
        participant = nearest_participant(investor)
        if participant is not None:
            payload = {
                "help_request": request.pk,
                "message": request.message,
                "contact_via": request.contact_via,
            }
            help_request_notify(
                participant=participant, plan=plan, payload=payload, today=today, now=now
            )
    return request


def _open_request_for_update(plan: Plan) -> HelpRequest | None:
    return HelpRequest.objects.select_for_update().open().filter(plan=plan).first()


def _added_to(request: HelpRequest, *, message: str, contact_via: str, now) -> HelpRequest:
    request.message = _joined(request.message, message)
    request.contact_via = contact_via or request.contact_via
    request.times_asked = F("times_asked") + 1
    request.last_asked_at = now
    request.save(update_fields=["message", "contact_via", "times_asked", "last_asked_at"])
    request.refresh_from_db()
    return request


def help_request_answer(*, request: HelpRequest, by, now: dt.datetime | None = None) -> HelpRequest:
    """Mark the request answered by `by` (a participant above the investor, or staff)."""
    now = now or timezone.now()
    # Conditional update: of two answers at once, the first is recorded, the second is told.
    answered = HelpRequest.objects.filter(pk=request.pk, answered_at__isnull=True).update(
        answered_at=now, answered_by=by
    )
    if not answered:
        raise ConflictError("This request was already answered.")
    request.refresh_from_db()
    return request
