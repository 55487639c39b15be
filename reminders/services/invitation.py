"""Sending an investor the link to sign in to their plans, through the outbox."""

from __future__ import annotations

import datetime as dt

from backoffice.lib.errors import ConflictError, DomainError
from clients.models import Investor

from ..models import CHANNEL_ADDRESS, Reminder
from .cadence import not_before
from .dispatch import dispatch_on_commit
from .facts import address

INVITATION_KIND = "invitation"


def invitation_queue(
    *, investor: Investor, channel: str, payload: dict, today: dt.date, now: dt.datetime
) -> Reminder:
    """One outbox row carrying the invitation on `channel`, in the investor's language.

    One a day per channel (the outbox's digest constraint: an invitation has no plan, its
    day is its subject); a second on the same day is refused rather than lost."""
    if channel not in CHANNEL_ADDRESS:
        raise DomainError(f"{channel!r} is not a channel.", field="channel")
    if not address(investor, channel):
        raise DomainError(
            f"{investor.name} has no {CHANNEL_ADDRESS[channel]} on file.", field="channel"
        )
    reminder, created = Reminder.objects.get_or_create(
        recipient=investor,
        digest_date=today,
        kind=INVITATION_KIND,
        channel=channel,
        defaults={
            "queued_on": today,
            "scheduled_for": not_before(now, channel=channel, zone=investor.zone),
            "payload": payload,
        },
    )
    if not created:
        raise ConflictError(
            f"An invitation by {channel} went to {investor.name} today already.", field="channel"
        )
    dispatch_on_commit([reminder.pk])
    return reminder
