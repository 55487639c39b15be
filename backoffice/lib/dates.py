"""The business calendar. "Today" is computed once, here, at the edge (view, task, command)."""

import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def business_today(now: dt.datetime | None = None) -> dt.date:
    """Today's date in BUSINESS_TIME_ZONE (not the server's zone, not UTC)."""
    moment = now or timezone.now()
    return moment.astimezone(settings.BUSINESS_TIME_ZONE).date()


def parse_iso_date(value: str) -> dt.date:
    """A YYYY-MM-DD date, or ValueError with a message a person can act on."""
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a date in the form YYYY-MM-DD") from None


def validate_time_zone(value: str) -> None:
    """An IANA time zone name such as Asia/Kolkata (empty is allowed: the business zone)."""
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not a known time zone; use a name such as Asia/Kolkata."),
            params={"value": value},
            code="invalid_time_zone",
        )
