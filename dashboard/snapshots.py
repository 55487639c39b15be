"""Writing and reading the daily snapshots (docs/rules.md, Dashboard)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import models, transaction
from django.db.models import Max
from django.db.models.functions import Coalesce

from clients.models import Investor
from installments.models import Plan, PlanStatus
from installments.rules import CENT
from structure.selectors import structure_summary

from . import figures as live
from . import rules
from .models import Snapshot


def _scopes() -> list[Investor | None]:
    return [None, *Investor.objects.participants().order_by("pk")]


def _day_values(root: Investor | None, today: dt.date) -> dict:
    scope = live.scope_of(root)
    counts = live.client_counts(scope, today=today)
    if root is not None:
        summary = structure_summary(root=root, today=today)
        clients, overdue_clients = summary.clients, summary.overdue_clients
        overdue_amount = summary.overdue_amount
    else:
        buckets = live.overdue_by_bucket(scope, today=today, counts=counts)
        clients = counts["clients"]
        overdue_clients = sum(b.clients for b in buckets)
        overdue_amount = sum((b.amount for b in buckets), Decimal("0.00"))
    return {
        "clients": clients,
        "invested": Decimal(counts["invested"]).quantize(CENT),
        "cancelled": Decimal(counts["cancelled"]).quantize(CENT),
        "overdue_clients": overdue_clients,
        "overdue_amount": overdue_amount,
        "backfilled": False,
    }


def snapshots_write(*, today: dt.date) -> int:
    """Today's snapshot of the whole book and of every participant's structure, in one
    transaction; a second run for the same day rewrites the same rows."""
    with transaction.atomic():
        scopes = _scopes()
        for root in scopes:
            Snapshot.objects.update_or_create(
                as_of=today, participant=root, defaults=_day_values(root, today)
            )
    return len(scopes)


def _past_values(root: Investor | None, day: dt.date) -> dict:
    """What the data still tells of a past day: the plans bought by then and those cancelled
    by then (a plan restored since counts as it is now)."""
    scope = live.scope_of(root)
    ids = scope.filter(plans__purchased_on__lte=day).values("pk")
    plans = Plan.objects.filter(investor__in=scope.values("pk"), purchased_on__lte=day)
    invested = plans.aggregate(total=Coalesce(models.Sum("price"), Decimal("0.00")))
    cancelled = plans.filter(status=PlanStatus.CANCELLED, cancelled_on__lte=day).aggregate(
        total=Coalesce(models.Sum("price"), Decimal("0.00"))
    )
    return {
        "clients": scope.filter(pk__in=ids).distinct().count(),
        "invested": invested["total"],
        "cancelled": cancelled["total"],
        "backfilled": True,
    }


def backfill_dates(*, first: dt.date, today: dt.date) -> list[dt.date]:
    """Every month's last day from `first` on, and each of the last 30 days before today."""
    days: set[dt.date] = set()
    month = first.replace(day=1)
    while month < today:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        days.add(min(following - dt.timedelta(days=1), today - dt.timedelta(days=1)))
        month = following
    days.update(today - dt.timedelta(days=n) for n in range(1, rules.RECENT_DAYS + 1))
    return sorted(day for day in days if first <= day < today)


def snapshots_backfill(*, today: dt.date, first: dt.date | None = None) -> int:
    """Snapshots for past days that have none, as far as the data allows; the days already
    written (after a scan, or by an earlier backfill) are left alone, so it is idempotent.
    Returns the number of rows written."""
    first = first or Plan.objects.aggregate(first=models.Min("purchased_on"))["first"]
    if first is None:
        return 0
    written = 0
    with transaction.atomic():
        for root in _scopes():
            done = set(Snapshot.objects.filter(participant=root).values_list("as_of", flat=True))
            rows = [
                Snapshot(as_of=day, participant=root, **_past_values(root, day))
                for day in backfill_dates(first=first, today=today)
                if day not in done
            ]
            Snapshot.objects.bulk_create(rows, ignore_conflicts=True)
            written += len(rows)
    return written


def trend(
    *, root: Investor | None, today: dt.date, current: Decimal | None, months: int = 12
) -> list[dict]:
    """The cancelled share month by month: each past month's last snapshot, and `current`,
    today's figure (`Figures.cancelled_share`), for the current month."""
    start = (today.replace(day=1) - dt.timedelta(days=31 * (months - 1))).replace(day=1)
    rows = Snapshot.objects.filter(participant=root, as_of__gte=start, as_of__lt=today)
    last_days = (
        rows.values("as_of__year", "as_of__month").annotate(last=Max("as_of")).values("last")
    )
    by_month = {
        s.as_of.strftime("%Y-%m"): rules.share(s.cancelled, s.invested)
        for s in rows.filter(as_of__in=last_days)
    }
    by_month[today.strftime("%Y-%m")] = current
    return [{"month": m, "cancelled_share": by_month[m]} for m in sorted(by_month)]
