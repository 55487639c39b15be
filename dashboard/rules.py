"""The dashboard's pure rules (docs/rules.md, Dashboard): buckets, shares, medians. No ORM,
no clock."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from statistics import median

from installments.rules import GRACE_DAYS

SHARE_PLACES = Decimal("0.0001")
HOURS_PLACES = Decimal("0.1")
PAST_DEADLINE = "past_deadline"
# The overdue buckets by days overdue, each with its first day (the API's names).
BUCKET_STARTS = (("1-7", 1), ("8-14", 8), ("15-19", 15))
BUCKETS = (*(name for name, _ in BUCKET_STARTS), PAST_DEADLINE)
# The source documents' target: the first contact within 10 hours of falling overdue.
FIRST_CONTACT_TARGET_HOURS = 10
RECENT_DAYS = 30  # "in the last 30 days": today and the 29 days before


def bucket_of(*, days_overdue: int, days_left: int) -> str:
    """An overdue client's bucket: past the deadline (negative days left, awaiting the scan),
    else by days since the oldest overdue due date. A hold can keep a client longer than the grace
    days overdue without passing the deadline: they stay in 15-19."""
    if days_left < 0:
        return PAST_DEADLINE
    for name, start in reversed(BUCKET_STARTS):
        if days_overdue >= start:
            return name
    return BUCKET_STARTS[0][0]


def most_days_left(bucket: str) -> int:
    """The most days left a client of `bucket` has without a hold or an extension: the
    Structure's `days_left_lte` for the bucket's link (-1: past the deadline)."""
    if bucket == PAST_DEADLINE:
        return -1
    return GRACE_DAYS - dict(BUCKET_STARTS)[bucket]


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
