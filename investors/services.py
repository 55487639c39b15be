"""Invitations: staff send an investor a link (email or SMS, through the outbox) with which
they choose their own username and password for My plans. Valid for a while, used once."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.lib.errors import ConflictError, DomainError
from clients.models import Investor
from clients.services import investor_grant_login
from reminders.services.invitation import invitation_queue

from .models import Invitation


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_send(
    *, investor: Investor, channel: str, by, today: dt.date, now: dt.datetime | None = None
) -> Invitation:
    """Queue the invitation link to `investor` by `channel`. One transaction: the invitation
    and the outbox row that carries its link."""
    if investor.can_sign_in:
        raise ConflictError(f"{investor.name} can already sign in.", field="channel")
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        investor=investor,
        token_hash=_hash(token),
        channel=channel,
        sent_by=by,
        created_at=now,
        expires_at=now + dt.timedelta(hours=settings.INVITATION_VALID_HOURS),
    )
    link = settings.SITE_URL.rstrip("/") + f"/me/invitation/{token}/"
    valid_until = timezone.localtime(invitation.expires_at, investor.zone)
    invitation_queue(
        investor=investor,
        channel=channel,
        payload={"link": link, "valid_until": valid_until.strftime("%Y-%m-%d %H:%M")},
        today=today,
        now=now,
    )
    return invitation


def invitation_for(token: str, *, now: dt.datetime | None = None) -> Invitation | None:
    """The invitation of `token` while it can still be used, else None."""
    now = now or timezone.now()
    return (
        Invitation.objects.select_related("investor")
        .filter(token_hash=_hash(token), used_at__isnull=True, expires_at__gt=now)
        .first()
    )


@transaction.atomic
def invitation_accept(*, token: str, username: str, password: str, now=None):
    """Use the invitation: the investor gets a login with this username and password.
    Single use: the row is claimed with a conditional update before the login is made."""
    now = now or timezone.now()
    invitation = invitation_for(token, now=now)
    # Claimed first (UPDATE … WHERE used_at IS NULL): of two uses at once, one wins.
    if invitation is None or not Invitation.objects.filter(
        pk=invitation.pk, used_at__isnull=True
    ).update(used_at=now):
        raise DomainError(_("This invitation no longer works: ask for a new one."))
    return investor_grant_login(investor=invitation.investor, username=username, password=password)
