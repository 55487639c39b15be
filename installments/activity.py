"""The client-activity matrix (docs/rules.md, Activity segments): recency of the last payment
or purchase × how many in the last four quarters. Pure, like `installments.rules`; its SQL
twin is `installments.segments`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


class Segment:
    """The client-activity matrix's cells (docs/rules.md, Activity segments)."""

    NEW = "new"
    ONE_TIME = "one_time"
    GROWING = "growing"
    LOST = "lost"
    VIP = "vip"
    ALL = ("new", "one_time", "growing", "lost", "vip")


@dataclass(frozen=True)
class SegmentThresholds:
    """The matrix's edges, from settings (`ACTIVITY_*`); an admin changes them there."""

    recent_days: int = 90  # the last activity at most this many days ago is recent
    few_max: int = 2  # at most this many activities in the window is "few"
    vip_min: int = 10  # at least this many, and recent, is a VIP
    window_days: int = 365  # the last four quarters


def activity_window_start(today: dt.date, thresholds: SegmentThresholds) -> dt.date:
    """The first day counted in the last four quarters (today is the last)."""
    return today - dt.timedelta(days=thresholds.window_days - 1)


def is_recent(last_activity: dt.date, today: dt.date, thresholds: SegmentThresholds) -> bool:
    return (today - last_activity).days <= thresholds.recent_days


def activity_segment(
    *,
    last_activity: dt.date | None,
    activities: int,
    today: dt.date,
    thresholds: SegmentThresholds,
) -> str | None:
    """The investor's cell of the activity matrix: recency of the last payment or purchase
    (`last_activity`, on or before today) × how many payments and purchases fell in the last
    four quarters (`activities`). None for an investor with no payment and no plan."""
    if last_activity is None:
        return None
    few = activities <= thresholds.few_max
    if is_recent(last_activity, today, thresholds):
        if few:
            return Segment.NEW
        return Segment.VIP if activities >= thresholds.vip_min else Segment.GROWING
    return Segment.ONE_TIME if few else Segment.LOST
