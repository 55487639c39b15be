"""Pure rules of the reminders: when a step's message is true, quiet hours, retry backoff,
and what a cancellation would cost. No ORM, no clock: dates and moments are arguments."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from zoneinfo import ZoneInfo

from installments.rules import GRACE_DAYS

# A cancellation notice is still worth sending this many days after the cancellation (a
# scan that missed nights, a broker outage); later it is news nobody needs from us.
CANCELLED_NOTICE_DAYS = 7


@dataclass(frozen=True)
class Window:
    """A step is true for an installment due on D on the days D+first .. D+last."""

    code: str
    first: int
    last: int

    def contains(self, days_from_due: int) -> bool:
        return self.first <= days_from_due <= self.last

    def due_date_opening_on(self, day: dt.date) -> dt.date:
        """The due date for which this window opens (its first day) on `day`."""
        return day - dt.timedelta(days=self.first)


def days_from_due(due_date: dt.date, today: dt.date) -> int:
    """Where `today` stands from a due date: negative before it, 0 on it."""
    return (today - due_date).days


def due_date_range(windows: Iterable[Window], today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The due dates for which some window is true on `today`, as (earliest, latest), or None
    without windows. Today's own due date is always inside."""
    windows = list(windows)
    if not windows:
        return None
    behind = max(0, *(w.last for w in windows))
    ahead = max(0, *(-w.first for w in windows))
    return today - dt.timedelta(days=behind), today + dt.timedelta(days=ahead)


def due_dates_of(window: Window, today: dt.date) -> tuple[dt.date, dt.date]:
    """The due dates (earliest, latest) for which `window` is true on `today`: exactly those
    with `window.contains(days_from_due(due_date, today))` (a query compares dates)."""
    return today - dt.timedelta(days=window.last), today - dt.timedelta(days=window.first)


def notice_from(today: dt.date) -> dt.date:
    """The earliest cancellation date whose notice is still news on `today`."""
    return today - dt.timedelta(days=CANCELLED_NOTICE_DAYS)


def step_windows(steps: Iterable[tuple[str, int]]) -> list[Window]:
    """The days on which each due-date step's message is still true.

    A step's message stays true until the next step's day: "due in 3 days" on D−3 is
    still honest on D−1 ("due on D"), but never on D or later. The last step runs to the
    end of the grace window. So a scan that missed nights sends, for each installment, the
    one step true today, and nothing whose moment has passed and whose words are no longer
    true. Steps before or on the due date never reach past it.
    """
    ordered = sorted(steps, key=lambda step: step[1])
    windows = []
    for index, (code, offset) in enumerate(ordered):
        following = [o for _, o in ordered[index + 1 :] if o > offset]
        last = following[0] - 1 if following else max(offset, GRACE_DAYS)
        if offset < 0:
            last = min(last, -1)
        elif offset == 0:
            last = 0
        windows.append(Window(code=code, first=offset, last=last))
    return windows


def window_for(windows: Iterable[Window], days_from_due: int) -> Window | None:
    for window in windows:
        if window.contains(days_from_due):
            return window
    return None


@dataclass(frozen=True)
class QuietHours:
    """Local hours in which nothing buzzes a phone, e.g. 21:00 to 08:00 (may cross midnight)."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """ "21:00-08:00", or empty for none. Raises ValueError on anything else."""
        text = (text or "").strip()
        if not text:
            return None
        try:
            start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise ValueError(
                f"{text!r} is not a range of hours such as 21:00-08:00 (empty: none)"
            ) from None
        if start == end:
            raise ValueError(f"{text!r} is an empty range of quiet hours")
        return cls(start=start, end=end)

    def contains(self, local: dt.time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
        """`moment` itself outside quiet hours, else the end of the quiet hours in `zone`
        (the next morning there), as an aware datetime."""
        local = moment.astimezone(zone)
        if not self.contains(local.time().replace(tzinfo=None)):
            return moment
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) >= self.start:
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, self.end, tzinfo=zone)


def retry_delay(attempt: int, *, base_seconds: int, cap_seconds: int = 3600) -> int:
    """Exponential backoff: base, 2×base, 4×base … capped."""
    return min(cap_seconds, base_seconds * 2 ** max(attempt - 1, 0))


@dataclass(frozen=True)
class SharesAtStake:
    total: int
    credited: int
    final: int  # credited only by the payment that completes the plan

    @property
    def lost_if_cancelled(self) -> int:
        return self.total - self.credited

    @property
    def lost_percent(self) -> int:
        """The shares lost on a cancellation, as a whole percentage of the package: never 0
        when some are lost, nor 100 when some are kept."""
        lost = self.lost_if_cancelled
        if not self.total or not lost:
            return 0
        percent = round(100 * lost / self.total)
        return min(max(percent, 1), 100 if lost == self.total else 99)


def shares_at_stake(*, shares: int, final_fraction: Fraction, credited: int) -> SharesAtStake:
    """What a cancellation keeps and loses: the shares credited so far stay; the rest, which
    includes the final credit of about F of the package, is never credited."""
    progressive_full = math.floor(shares * (1 - final_fraction))
    return SharesAtStake(total=shares, credited=credited, final=shares - progressive_full)
