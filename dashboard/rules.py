"""The dashboard's pure rules (docs/rules.md, Dashboard): shares, medians, windows. No ORM,
no clock. The overdue buckets are the overdue rules' (`installments.rules.bucket_of`)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from statistics import median

SHARE_PLACES = Decimal("0.0001")
HOURS_PLACES = Decimal("0.1")
# The source documents' target: the first contact within 10 hours of falling overdue.
FIRST_CONTACT_TARGET_HOURS = 10
RECENT_DAYS = 30  # "in the last 30 days": today and the 29 days before


def share(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part ÷ whole to 4 places (half to even), None when the whole is nothing."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(SHARE_PLACES, rounding=ROUND_HALF_EVEN)


def hours_between(start: dt.datetime, end: dt.datetime) -> Decimal:
    return Decimal((end - start).total_seconds()) / Decimal(3600)


def median_hours(hours: list[Decimal]) -> Decimal | None:
    if not hours:
        return None
    return Decimal(median(sorted(hours))).quantize(HOURS_PLACES, rounding=ROUND_HALF_EVEN)


def recent_start(today: dt.date) -> dt.date:
    """The first day of the last 30 days."""
    return today - dt.timedelta(days=RECENT_DAYS - 1)


def fell_overdue_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """Due dates whose installments fell overdue (the day after) in the last 30 days."""
    return recent_start(today) - dt.timedelta(days=1), today - dt.timedelta(days=1)
