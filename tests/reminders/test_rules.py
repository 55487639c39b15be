"""The pure rules of the reminders: when a step is true, quiet hours, backoff, shares."""

import datetime as dt
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reminders.rules import (
    QuietHours,
    SharesAtStake,
    retry_delay,
    shares_at_stake,
    step_windows,
    window_for,
)

DEFAULT = [
    ("upcoming", -3),
    ("due-today", 0),
    ("overdue", 1),
    ("overdue-week", 7),
    ("overdue-two-weeks", 14),
    ("last-warning", 18),
]
KOLKATA = ZoneInfo("Asia/Kolkata")
KATHMANDU = ZoneInfo("Asia/Kathmandu")


def code_on(day):
    window = window_for(step_windows(DEFAULT), day)
    return window.code if window else None


def test_each_level_is_true_until_the_next_level_begins():
    assert [code_on(d) for d in range(-5, 22)] == (
        [None, None]
        + ["upcoming"] * 3
        + ["due-today"]
        + ["overdue"] * 6
        + ["overdue-week"] * 7
        + ["overdue-two-weeks"] * 4
        + ["last-warning"] * 2
        + [None] * 2
    )


def test_an_upcoming_reminder_is_never_true_on_or_after_the_due_date():
    windows = step_windows([("upcoming", -3), ("overdue", 5)])
    assert window_for(windows, -1).code == "upcoming"
    assert window_for(windows, 0) is None
    assert window_for(windows, 4) is None


@given(st.lists(st.integers(-30, 30), min_size=1, max_size=8, unique=True), st.integers(-40, 40))
def test_at_most_one_level_is_true_on_any_day(offsets, day):
    windows = step_windows([(f"l{o}", o) for o in offsets])
    assert sum(1 for w in windows if w.contains(day)) <= 1


def test_quiet_hours_across_midnight_wait_for_the_morning_in_the_recipients_zone():
    quiet = QuietHours.parse("21:00-08:00")
    late = dt.datetime(2025, 3, 7, 22, 30, tzinfo=KOLKATA)
    assert quiet.next_allowed(late, KOLKATA) == dt.datetime(2025, 3, 8, 8, 0, tzinfo=KOLKATA)
    early = dt.datetime(2025, 3, 8, 2, 0, tzinfo=KOLKATA)
    assert quiet.next_allowed(early, KOLKATA) == dt.datetime(2025, 3, 8, 8, 0, tzinfo=KOLKATA)
    noon = dt.datetime(2025, 3, 8, 12, 0, tzinfo=KOLKATA)
    assert quiet.next_allowed(noon, KOLKATA) == noon


def test_quiet_hours_are_read_in_the_recipients_own_zone():
    quiet = QuietHours.parse("21:00-08:00")
    # 07:50 in Kolkata is 08:05 in Kathmandu: a Kathmandu reader may be messaged.
    moment = dt.datetime(2025, 3, 8, 7, 50, tzinfo=KOLKATA)
    assert quiet.next_allowed(moment, KATHMANDU) == moment
    assert quiet.next_allowed(moment, KOLKATA) > moment


@pytest.mark.parametrize("text", ["", "  "])
def test_empty_quiet_hours_mean_none(text):
    assert QuietHours.parse(text) is None


@pytest.mark.parametrize("text", ["21-8", "evening", "08:00-08:00"])
def test_malformed_quiet_hours_are_refused_with_a_message(text):
    with pytest.raises(ValueError, match=r"quiet hours|range of hours"):
        QuietHours.parse(text)


def test_retries_back_off_exponentially_up_to_a_cap():
    assert [retry_delay(n, base_seconds=60) for n in range(1, 8)] == [
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
    ]


def test_a_cancellation_keeps_what_was_credited_and_loses_about_two_thirds_or_more():
    stake = shares_at_stake(shares=3000, final_fraction=Fraction(2, 3), credited=300)
    assert stake.final == 2000
    assert stake.lost_if_cancelled == 2700


@pytest.mark.parametrize(
    ("total", "credited", "percent"),
    [(3000, 0, 100), (3000, 350, 88), (300, 299, 1), (3000, 2999, 1), (3000, 1, 99), (300, 300, 0)],
)
def test_the_share_lost_is_a_whole_percentage_never_0_or_100_when_untrue(total, credited, percent):
    stake = SharesAtStake(total=total, credited=credited, final=total // 3)
    assert stake.lost_percent == percent
