"""The activity segment in SQL: the twin of `rules.activity_segment`, so the Structure can
filter on it and the dashboard count it in the database.

`tests/installments/test_segments.py` holds the twin equal to the rule over random
payments, purchases and dates.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce, Greatest

from . import rules
from .models import Payment, Plan


def thresholds() -> rules.SegmentThresholds:
    """The matrix's edges as the settings give them."""
    return rules.SegmentThresholds(
        recent_days=settings.ACTIVITY_RECENT_DAYS,
        few_max=settings.ACTIVITY_FEW_MAX,
        vip_min=settings.ACTIVITY_VIP_MIN,
        window_days=settings.ACTIVITY_WINDOW_DAYS,
    )


def _per_investor(queryset: models.QuerySet, group: str, aggregate) -> models.Subquery:
    rows = queryset.order_by().values(group).annotate(value=aggregate).values("value")
    return models.Subquery(rows)


def with_activity(
    investors: models.QuerySet, *, today: dt.date, limits: rules.SegmentThresholds | None = None
) -> models.QuerySet:
    """Annotate investors with `last_activity` (the latest payment received or plan bought on
    or before today), `activities` (how many in the last four quarters) and `segment`."""
    limits = limits or thresholds()
    start = rules.activity_window_start(today, limits)
    payments = Payment.objects.filter(plan__investor=models.OuterRef("pk"))
    plans = Plan.objects.filter(investor=models.OuterRef("pk"))
    last_paid = _per_investor(
        payments.filter(received_on__lte=today), "plan__investor", models.Max("received_on")
    )
    last_bought = _per_investor(
        plans.filter(purchased_on__lte=today), "investor", models.Max("purchased_on")
    )
    window = {"__gte": start, "__lte": today}
    paid = _per_investor(
        payments.filter(**{f"received_on{k}": v for k, v in window.items()}),
        "plan__investor",
        models.Count("pk"),
    )
    bought = _per_investor(
        plans.filter(**{f"purchased_on{k}": v for k, v in window.items()}),
        "investor",
        models.Count("pk"),
    )
    # GREATEST returns NULL on SQLite when either side is NULL: each side falls back on the
    # other.
    return investors.annotate(
        last_activity=Greatest(
            Coalesce(last_paid, last_bought),
            Coalesce(last_bought, last_paid),
            output_field=models.DateField(),
        ),
        activities=Coalesce(paid, 0) + Coalesce(bought, 0),
    ).annotate(segment=segment_case(today, limits))


def segment_case(today: dt.date, limits: rules.SegmentThresholds) -> models.Case:
    """`rules.activity_segment` over `last_activity` and `activities`, in the rule's order."""
    recent = models.Q(last_activity__gte=today - dt.timedelta(days=limits.recent_days))
    few = models.Q(activities__lte=limits.few_max)
    value = models.Value
    return models.Case(
        models.When(last_activity__isnull=True, then=value(None)),
        models.When(recent & few, then=value(rules.Segment.NEW)),
        models.When(
            recent & models.Q(activities__gte=limits.vip_min), then=value(rules.Segment.VIP)
        ),
        models.When(recent, then=value(rules.Segment.GROWING)),
        models.When(few, then=value(rules.Segment.ONE_TIME)),
        default=value(rules.Segment.LOST),
        output_field=models.CharField(),
    )
