"""API tokens: issued on sign-in, expiring after API_TOKEN_TTL_HOURS, rotated on every password
change and revocable by their user (DELETE /api/auth/token/) and by staff (admin → Tokens).

A token is a password's stand-in: one that outlived a password change would keep a thief in
after the owner changed the password to shut them out.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.forms import AdminPasswordChangeForm, PasswordChangeForm
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def token_expired(token: Token, *, now: dt.datetime) -> bool:
    ttl = settings.API_TOKEN_TTL
    return ttl is not None and token.created + ttl <= now


def api_token_issue(*, user) -> Token:
    """The user's token, or a new one when they have none or theirs has expired."""
    with transaction.atomic():
        token, created = Token.objects.select_for_update().get_or_create(user=user)
        if not created and token_expired(token, now=timezone.now()):
            token.delete()
            token = Token.objects.create(user=user)
    return token


def api_tokens_revoke(*, user) -> int:
    """End the user's API token(s); the next sign-in at /api/auth/token/ issues a new one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token …`, refused once the token is older than API_TOKEN_TTL_HOURS."""

    def authenticate_credentials(self, key):
        # TokenAuthentication's read, with the user's participant in the same query: the
        # Structure and the dashboard ask for it next (clients.selectors.structure_root_of).
        try:
            token = Token.objects.select_related("user", "user__investor").get(key=key)
        except Token.DoesNotExist:
            raise AuthenticationFailed(_("Invalid token.")) from None
        user = token.user
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        if token_expired(token, now=timezone.now()):
            raise AuthenticationFailed("The token has expired: ask /api/auth/token/ for a new one.")
        return user, token


class TokenRotatingPasswordChangeForm(PasswordChangeForm):
    """The site's password change (/accounts/password/): also ends the user's API token."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        api_tokens_revoke(user=user)
        return user


class TokenRotatingAdminPasswordChangeForm(AdminPasswordChangeForm):
    """The admin's password change of any user: also ends that user's API token."""

    def save(self, commit=True):
        user = super().save(commit=commit)
        api_tokens_revoke(user=user)
        return user
