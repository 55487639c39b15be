"""The /dashboard/ page: the same figures as GET /api/dashboard/, phone-first, with charts
drawn as inline SVG on the server (no script, no CDN) and their numbers in tables."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from backoffice.lib.dates import business_today
from clients.models import Investor

from . import rules, snapshots
from .figures import figures
from .selectors import ScopeRefused, request_scope

BAR_WIDTH = 300


def _bars(values: list, *, total=None) -> list[int]:
    """Bar lengths in SVG units for a horizontal bar chart."""
    top = total or max([v for v in values if v] or [1])
    return [int(BAR_WIDTH * v / top) if v else 0 for v in values]


def _structure_link(root, **filters) -> str:
    query = {**({"participant": root.pk} if root else {}), **filters}
    return f"{reverse('structure')}?{urlencode(query)}"


def _bucket_rows(buckets, *, root) -> list[dict]:
    """Each overdue bucket with its bar and its link to the Structure (the overdue clients
    with at most the bucket's days left)."""
    return [
        {
            "bucket": b,
            "bar": bar,
            "y": 28 * n,
            "link": _structure_link(
                root, overdue="true", days_left_lte=rules.most_days_left(b.bucket)
            )
            if root
            else "",
        }
        for n, (b, bar) in enumerate(zip(buckets, _bars([b.clients for b in buckets]), strict=True))
    ]


@login_required
def dashboard(request) -> HttpResponse:
    try:
        scope = request_scope(request, request.GET.get("participant"))
    except ScopeRefused as refused:
        return render(
            request, "dashboard/refused.html", {"message": refused.message}, status=refused.status
        )
    today = business_today()
    data = figures(root=scope.root, today=today)
    data.trend = snapshots.trend(root=scope.root, today=today)
    rows = _bucket_rows(data.overdue_by_bucket, root=scope.root)
    trend = [
        {"month": t["month"], "share": t["cancelled_share"], "bar": bar, "x": 28 * n}
        for n, (t, bar) in enumerate(
            zip(
                data.trend,
                _bars([t["cancelled_share"] or 0 for t in data.trend], total=1),
                strict=True,
            )
        )
    ]
    segments = [
        {
            "name": name,
            "count": count,
            "link": _structure_link(scope.root, segment=name) if scope.root else "",
        }
        for name, count in data.segments.items()
    ]
    return render(
        request,
        "dashboard/dashboard.html",
        {
            "data": data,
            "root": scope.root,
            "buckets": rows,
            "trend": trend,
            "trend_width": max(28 * len(trend), 28),
            "segments": segments,
            "participants": Investor.objects.participants().order_by("name")
            if request.user.is_staff
            else [],
            "overdue_link": _structure_link(scope.root, overdue="true") if scope.root else "",
            "cancelled_link": _structure_link(scope.root, plan_status="cancelled")
            if scope.root
            else "",
        },
    )
