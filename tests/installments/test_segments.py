"""The activity segment's SQL twin (`installments.segments.with_activity`) equals the pure
rule (`installments.activity.activity_segment`) over random portfolios and thresholds."""

import datetime as dt
import random

import pytest

from clients.models import Investor
from installments import activity, segments
from tests.dashboard.portfolio import build

TODAY = dt.date(2026, 3, 31)


def _by_rule(investor: Investor, today: dt.date, limits: activity.SegmentThresholds):
    start = activity.activity_window_start(today, limits)
    days = [p.purchased_on for p in investor.plans.all()] + [
        pay.received_on for p in investor.plans.all() for pay in p.payments.all()
    ]
    days = [d for d in days if d <= today]
    return activity.activity_segment(
        last_activity=max(days, default=None),
        activities=sum(1 for d in days if d >= start),
        today=today,
        thresholds=limits,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [11, 12])
def test_the_sql_segment_equals_the_rule(seed):
    build(seed, TODAY, size=15)
    rnd = random.Random(seed)
    for _ in range(4):
        limits = activity.SegmentThresholds(
            recent_days=rnd.randint(5, 120), few_max=rnd.randint(0, 3), vip_min=rnd.randint(1, 8)
        )
        day = TODAY - dt.timedelta(days=rnd.randint(0, 90))
        rows = segments.with_activity(Investor.objects.all(), today=day, limits=limits)
        counted = dict.fromkeys(activity.Segment.ALL, 0)
        for investor in rows:
            assert investor.segment == _by_rule(investor, day, limits), (investor.pk, limits)
            if investor.segment is not None:
                counted[investor.segment] += 1
        # The one-statement count is the same cells, counted.
        assert segments.segment_counts(Investor.objects.all(), today=day, limits=limits) == counted
        part = Investor.objects.filter(pk__in=[i.pk for i in rows][::2])
        assert segments.segment_counts(part, today=day, limits=limits) == {
            name: sum(
                1
                for i in rows
                if i.pk in set(part.values_list("pk", flat=True)) and i.segment == name
            )
            for name in activity.Segment.ALL
        }
