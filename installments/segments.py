"""The activity segment in SQL: the twin of `activity.activity_segment`, so the Structure can
filter on it and the dashboard count it in the database.

`tests/installments/test_segments.py` holds the twin equal to the rule over random
payments, purchases and dates.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connections, models
from django.db.models.functions import Coalesce, Greatest

from . import activity
from .models import Payment, Plan


def thresholds() -> activity.SegmentThresholds:
    """The matrix's edges as the settings give them."""
    return activity.SegmentThresholds(
        recent_days=settings.ACTIVITY_RECENT_DAYS,
        few_max=settings.ACTIVITY_FEW_MAX,
        vip_min=settings.ACTIVITY_VIP_MIN,
        window_days=settings.ACTIVITY_WINDOW_DAYS,
    )


def _per_investor(queryset: models.QuerySet, group: str, aggregate) -> models.Subquery:
    rows = queryset.order_by().values(group).annotate(value=aggregate).values("value")
    return models.Subquery(rows)


def with_activity(
    investors: models.QuerySet, *, today: dt.date, limits: activity.SegmentThresholds | None = None
) -> models.QuerySet:
    """Annotate investors with `last_activity` (the latest payment received or plan bought on
    or before today), `activities` (how many in the last four quarters) and `segment`."""
    limits = limits or thresholds()
    start = activity.activity_window_start(today, limits)
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


def segment_case(today: dt.date, limits: activity.SegmentThresholds) -> models.Case:
    """`activity.activity_segment` over `last_activity` and `activities`, in the rule's order."""
    recent = models.Q(last_activity__gte=today - dt.timedelta(days=limits.recent_days))
    few = models.Q(activities__lte=limits.few_max)
    value = models.Value
    return models.Case(
        models.When(last_activity__isnull=True, then=value(None)),
        models.When(recent & few, then=value(activity.Segment.NEW)),
        models.When(
            recent & models.Q(activities__gte=limits.vip_min), then=value(activity.Segment.VIP)
        ),
        models.When(recent, then=value(activity.Segment.GROWING)),
        models.When(few, then=value(activity.Segment.ONE_TIME)),
        default=value(activity.Segment.LOST),
        output_field=models.CharField(),
    )


def segment_cells_sql(
    investors: models.QuerySet | list[int],
    *,
    today: dt.date,
    limits: activity.SegmentThresholds | None = None,
) -> tuple[str, list]:
    """SELECT ref, cell: the cell of each of `investors` with a payment or a plan (one without
    either has no row), `with_activity`'s in one statement. Every payment and purchase of the
    investors is read once (UNION ALL) and grouped per investor, where `with_activity` runs its
    correlated subqueries per investor and per condition (`tests/installments/test_segments.py`
    holds the two equal). `investors`: a queryset, or a list of a few ids."""
    limits = limits or thresholds()
    if isinstance(investors, list):
        ids, ids_params = ", ".join(["%s"] * len(investors)) or "NULL", tuple(investors)
    else:
        ids, ids_params = investors.order_by().values("pk").query.sql_with_params()
    recent = today - dt.timedelta(days=limits.recent_days)
    cells = (
        # The rule's order, as in `segment_case`.
        "CASE WHEN last_day >= %s AND n <= %s THEN %s "
        "WHEN last_day >= %s AND n >= %s THEN %s "
        "WHEN last_day >= %s THEN %s "
        "WHEN n <= %s THEN %s ELSE %s END"
    )
    cell_params = [
        *(recent, limits.few_max, activity.Segment.NEW),
        *(recent, limits.vip_min, activity.Segment.VIP),
        *(recent, activity.Segment.GROWING),
        *(limits.few_max, activity.Segment.ONE_TIME, activity.Segment.LOST),
    ]
    sql = (
        f"SELECT investor_id AS ref, {cells} AS cell FROM ("
        "SELECT investor_id, MAX(day) AS last_day, "
        "COUNT(CASE WHEN day >= %s THEN 1 END) AS n FROM ("
        "SELECT plan.investor_id, payment.received_on AS day "
        "FROM installments_payment AS payment "
        "JOIN installments_plan AS plan ON plan.id = payment.plan_id "
        f"WHERE plan.investor_id IN ({ids}) AND payment.received_on <= %s "
        "UNION ALL "
        "SELECT plan.investor_id, plan.purchased_on FROM installments_plan AS plan "
        f"WHERE plan.investor_id IN ({ids}) AND plan.purchased_on <= %s"
        ") AS activity GROUP BY investor_id) AS per_investor"
    )
    params = [
        *cell_params,
        activity.activity_window_start(today, limits),
        *ids_params,
        today,
        *ids_params,
        today,
    ]
    return sql, params


def segment_counts(
    investors: models.QuerySet,
    *,
    today: dt.date,
    limits: activity.SegmentThresholds | None = None,
) -> dict[str, int]:
    """How many of `investors` fall in each segment: `segment_cells_sql`'s cells counted."""
    cells, params = segment_cells_sql(investors, today=today, limits=limits)
    counts = dict.fromkeys(activity.Segment.ALL, 0)
    with connections[investors.db].cursor() as cursor:
        cursor.execute(f"SELECT cell, COUNT(*) FROM ({cells}) AS cells GROUP BY cell", params)
        for cell, count in cursor.fetchall():
            counts[cell] = count
    return counts
