"""When a reminder may go out: quiet hours, and the windows of the cadence's due-date steps."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from ..models import Trigger
from ..rules import QuietHours, step_windows


def quiet_hours() -> QuietHours | None:
    return QuietHours.parse(settings.REMINDER_QUIET_HOURS)


def not_before(now: dt.datetime, *, channel: str, zone) -> dt.datetime:
    """When a message on `channel` may go out to someone in `zone`: now, or the end of the
    quiet hours there."""
    quiet = quiet_hours()
    if quiet is None or channel not in settings.REMINDER_QUIET_CHANNELS:
        return now
    return quiet.next_allowed(now, zone)


def windows_by_recipient(steps) -> dict[str, list]:
    """The due-date steps' windows, per kind of recipient (each has its own sequence)."""
    by_recipient: dict[str, list[tuple[str, int]]] = {}
    for step in steps:
        if step.trigger == Trigger.DUE_DATE:
            by_recipient.setdefault(step.recipient, []).append((step.code, step.offset_days))
    return {recipient: step_windows(pairs) for recipient, pairs in by_recipient.items()}


def due_date_windows(steps) -> list:
    """Every due-date step's window, whoever it is for."""
    return [window for windows in windows_by_recipient(steps).values() for window in windows]
