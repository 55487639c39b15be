"""Telling a participant, through the outbox, that one of their clients asked for help."""

from __future__ import annotations

import datetime as dt

from clients.models import Investor
from installments.models import Plan

from ..models import ChannelOptOut, Reminder, Trigger
from .cadence import not_before
from .dispatch import dispatch_on_commit
from .facts import address

HELP_REQUEST_KIND = "help-request"


def help_request_notify(
    *, participant: Investor, plan: Plan, payload: dict, today: dt.date, now: dt.datetime
) -> list[Reminder]:
    """Queue the message to `participant` about a help request on `plan`, on each channel of
    the help-request step they can be reached on, in their language (rendered at delivery).

    Once per (participant, plan, channel): the outbox's unique constraint keeps a second
    press, or a second request on the same plan, from ringing the participant again; the
    Structure shows every open request first whatever the messages.
    """
    from ..models import CadenceStep

    step = CadenceStep.objects.active().filter(code=HELP_REQUEST_KIND).first()
    if step is None or step.trigger != Trigger.HELP_REQUEST:
        return []
    opted_out = set(
        ChannelOptOut.objects.filter(investor=participant).values_list("channel", flat=True)
    )
    created = []
    for channel in step.channels:
        if channel in opted_out or not address(participant, channel):
            continue
        # get_or_create retries the read when a concurrent insert hits
        # reminder_once_per_plan, so two presses at once still make one message.
        reminder, new = Reminder.objects.get_or_create(
            recipient=participant,
            plan=plan,
            installment=None,
            kind=step.code,
            channel=channel,
            defaults={
                "queued_on": today,
                "scheduled_for": not_before(now, channel=channel, zone=participant.zone),
                "payload": payload,
            },
        )
        if new:
            created.append(reminder)
    dispatch_on_commit([reminder.pk for reminder in created])
    return created
