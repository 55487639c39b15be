"""The dashboard's and the activity matrix's pure rules (docs/rules.md, Dashboard and
Activity segments)."""

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from dashboard import rules
from installments.activity import Segment, SegmentThresholds, activity_segment
from installments.rules import BUCKETS, PAST_DEADLINE, bucket_days, bucket_of

TODAY = dt.date(2026, 3, 31)
LIMITS = SegmentThresholds()


def test_a_recent_single_purchase_is_new():
    segment = activity_segment(last_activity=TODAY, activities=1, today=TODAY, thresholds=LIMITS)
    assert segment == Segment.NEW


def test_a_client_paying_every_month_is_vip_and_lost_once_they_stop():
    assert (
        activity_segment(last_activity=TODAY, activities=12, today=TODAY, thresholds=LIMITS)
        == Segment.VIP
    )
    long_ago = TODAY - dt.timedelta(days=91)
    assert (
        activity_segment(last_activity=long_ago, activities=9, today=TODAY, thresholds=LIMITS)
        == Segment.LOST
    )
    assert (
        activity_segment(last_activity=long_ago, activities=1, today=TODAY, thresholds=LIMITS)
        == Segment.ONE_TIME
    )


@given(
    days_ago=st.integers(min_value=0, max_value=800),
    activities=st.integers(min_value=0, max_value=40),
    few=st.integers(min_value=0, max_value=5),
    vip=st.integers(min_value=1, max_value=20),
)
def test_every_active_client_falls_in_exactly_one_cell(days_ago, activities, few, vip):
    limits = SegmentThresholds(few_max=few, vip_min=vip)
    last = TODAY - dt.timedelta(days=days_ago)
    segment = activity_segment(
        last_activity=last, activities=activities, today=TODAY, thresholds=limits
    )
    assert segment in Segment.ALL
    recent = days_ago <= limits.recent_days
    assert (segment in (Segment.NEW, Segment.GROWING, Segment.VIP)) == recent
    assert (
        activity_segment(last_activity=None, activities=activities, today=TODAY, thresholds=limits)
        is None
    )


@given(days_overdue=st.integers(min_value=1, max_value=60), days_left=st.integers(-30, 40))
def test_a_client_past_the_deadline_is_in_that_bucket_whatever_the_days_overdue(
    days_overdue, days_left
):
    bucket = bucket_of(days_overdue=days_overdue, days_left=days_left)
    assert bucket in BUCKETS
    assert (bucket == PAST_DEADLINE) == (days_left < 0)
    if bucket != PAST_DEADLINE:
        first, last = bucket_days(bucket)
        assert first <= days_overdue and (last is None or days_overdue <= last)


@given(part=st.integers(0, 10**9), extra=st.integers(0, 10**9))
def test_a_share_lies_between_zero_and_one(part, extra):
    value = rules.share(part, part + extra)
    if part + extra == 0:
        assert value is None
    else:
        assert Decimal(0) <= value <= Decimal(1)
        assert value.as_tuple().exponent == -4
