"""API tokens: issued on sign-in, expiring after API_TOKEN_TTL_HOURS, rotated on every password
change and revocable by their user (DELETE /api/auth/token/) and by staff (admin → Tokens).

A token is a password's stand-in: one that outlived a password change would keep a thief in
after the owner changed the password to shut them out.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AdminPasswordChangeForm, PasswordChangeForm
from django.db import connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from .models import Investor


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


@dataclass(frozen=True)
class _TokenStatement:
    """`Token.objects.select_related("user", "user__investor").filter(key=…)` compiled: its
    SQL, where the key goes in its parameters, and each model's columns and converters."""

    sql: str
    params: tuple
    key_index: int
    parts: tuple  # (model, attnames, converters by column) for the token, user, investor


_KEY_PLACEHOLDER = "(the key)"
_STATEMENTS: dict[str, _TokenStatement] = {}
_LOCK = threading.Lock()


def _compile_token_statement(using: str) -> _TokenStatement:
    queryset = Token.objects.select_related("user", "user__investor").filter(key=_KEY_PLACEHOLDER)
    compiler = queryset.query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    expressions = [expression for expression, _, _ in compiler.select]
    converters = compiler.get_converters(expressions)
    parts, start = [], 0
    for model in (Token, get_user_model(), Investor):
        attnames = [field.attname for field in model._meta.concrete_fields]
        end = start + len(attnames)
        columns = [getattr(getattr(e, "target", None), "attname", None) for e in expressions]
        if columns[start:end] != attnames:
            raise ValueError(f"the token statement does not select {model.__name__} whole")
        parts.append(
            (
                model,
                tuple(attnames),
                {i - start: c for i, c in converters.items() if start <= i < end},
            )
        )
        start = end
    return _TokenStatement(
        sql=sql,
        params=tuple(params),
        key_index=list(params).index(_KEY_PLACEHOLDER),
        parts=tuple(parts),
    )


def _token_statement(using: str) -> _TokenStatement:
    statement = _STATEMENTS.get(using)
    if statement is None:
        with _LOCK:
            statement = _STATEMENTS.get(using) or _compile_token_statement(using)
            _STATEMENTS[using] = statement
    return statement


def token_with_user(key: str, *, using: str = "default") -> Token | None:
    """The token of `key` with its user and the user's participant (or None) loaded, as
    `select_related("user", "user__investor")` loads them, from SQL compiled once per process:
    building that query anew cost more than running it, on every API request."""
    statement = _token_statement(using)
    params = list(statement.params)
    params[statement.key_index] = key
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    instances: list[models.Model | None] = []
    start = 0
    for model, attnames, converters in statement.parts:
        values = list(row[start : start + len(attnames)])
        start += len(attnames)
        for index, (functions, expression) in converters.items():
            for convert in functions:
                values[index] = convert(values[index], expression, connection)
        # The investor's columns are NULL when the user is no participant (a LEFT JOIN).
        instances.append(None if values[0] is None else model.from_db(using, attnames, values))
    token, user, investor = instances
    if not isinstance(token, Token) or user is None:
        raise ValueError("the token statement read no token or no user")
    Token._meta.get_field("user").set_cached_value(token, user)
    Investor._meta.get_field("user").remote_field.set_cached_value(user, investor)
    if investor is not None:
        Investor._meta.get_field("user").set_cached_value(investor, user)
    return token


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token …`, refused once the token is older than API_TOKEN_TTL_HOURS."""

    def authenticate_credentials(self, key):
        # TokenAuthentication's read, with the user's participant in the same query: the
        # Structure and the dashboard ask for it next (clients.selectors.structure_root_of).
        token = token_with_user(key)
        if token is None:
            raise AuthenticationFailed(_("Invalid token."))
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
