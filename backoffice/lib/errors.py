"""The domain error type. Interfaces turn it into a 400 (API), a form error (admin) or a
non-zero exit (commands), in one place each."""

from __future__ import annotations

import datetime as dt

from django.utils.formats import date_format
from django.utils.translation import gettext


class DomainError(Exception):
    """A request the rules refuse. Raising it means nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code

    def as_field_errors(self) -> dict[str, list[str]]:
        return {self.field or "non_field_errors": [self.message]}


class ConflictError(DomainError):
    """The request contradicts something already recorded (e.g. a reused payment reference)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, field=field, code="conflict")


def shown(error: Exception) -> str:
    """A refusal's message in the reader's language. An error that carries the catalogue's
    text and its values (`message`, `params`: `installments.rules.RuleError`) is translated,
    its days written as the pages write them; any other error reads as it is."""
    message = getattr(error, "message", None)
    params = getattr(error, "params", None)
    if not isinstance(message, str) or not params:
        return gettext(message) if isinstance(message, str) else str(error)
    return gettext(message) % {name: _shown_value(value) for name, value in params.items()}


def _shown_value(value: object) -> object:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return date_format(value)
    return value
