"""The /dashboard/ page: the same figures as GET /api/dashboard/, phone-first. The charts are
drawn by Chart.js from our own static files (static/vendor/chartjs), fed by `json_script`
data blocks (the Content-Security-Policy allows no inline script); every chart has its
numbers in a table beside it, which is also what a browser without script shows."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _

from backoffice.lib.dates import business_today
from clients.models import Investor
from installments import segments
from installments.activity import Segment
from installments.rules import CENT, PAST_DEADLINE, bucket_days
from structure.filters import BUCKET_CHOICES, SEGMENT_CHOICES

from . import snapshots
from .figures import Figures, figures
from .ranking import recovery_ranking
from .selectors import ScopeRefused, request_scope

RANKING_PAGE_SIZE = 10
PERCENT_PLACES = Decimal("0.1")
COLORS = {"trend": "#b3261e", "buckets": "#c06000", "promises": "#1d4e89"}


def percent(share: Decimal | None) -> Decimal | None:
    """A share (0.3400) as a percentage to one place (34.0)."""
    if share is None:
        return None
    return (share * 100).quantize(PERCENT_PLACES, rounding=ROUND_HALF_EVEN)


def _structure_links(request, root: Investor | None):
    """A function giving the Structure filtered to the clients behind a figure. A participant
    reads their own Structure; staff name the participant they chose. None for the whole
    book (the Structure lists one participant's structure at a time)."""
    if root is None:
        return lambda **filters: ""
    chosen = {"participant": root.pk} if request.user.is_staff else {}

    def link(**filters) -> str:
        query = urlencode({**chosen, **filters})
        return f"{reverse('structure')}?{query}" if query else reverse("structure")

    return link


def _bucket_rows(data: Figures, link) -> list[dict]:
    labels = dict(BUCKET_CHOICES)
    rows = []
    for bucket in data.overdue_by_bucket:
        if bucket.bucket == PAST_DEADLINE:
            short = str(labels[PAST_DEADLINE])
        else:
            first, last = bucket_days(bucket.bucket)
            short = f"{first}–{last}" if last else bucket.bucket.replace("-", "–")
        rows.append(
            {
                "bucket": bucket.bucket,
                "label": str(labels[bucket.bucket]),
                "short": short,
                "clients": bucket.clients,
                "amount": bucket.amount,
                "link": link(bucket=bucket.bucket),
            }
        )
    return rows


def _segment_grid(data: Figures, link) -> dict:
    """The activity matrix as the page draws it: recency (rows) × activities in the last
    four quarters (columns), each cell with its label, count and Structure link."""
    labels = dict(SEGMENT_CHOICES)
    limits = segments.thresholds()

    def cell(name: str) -> dict:
        return {
            "name": name,
            "label": labels[name],
            "count": data.segments[name],
            "link": link(segment=name),
        }

    return {
        "limits": limits,
        "middle_first": limits.few_max + 1,
        "middle_last": limits.vip_min - 1,
        "recent": [cell(Segment.NEW), cell(Segment.GROWING), cell(Segment.VIP)],
        "not_recent": [cell(Segment.ONE_TIME), cell(Segment.LOST)],
    }


def _month_label(month: str) -> str:
    year, number = month.split("-")
    return formats.date_format(dt.date(int(year), int(number), 1), "YEAR_MONTH_FORMAT")


def _charts(data: Figures, buckets: list[dict], trend: list[dict]) -> dict:
    """What each chart draws (passed to the page's script with `json_script`)."""

    def number(value) -> float | None:
        return None if value is None else float(value)

    promises = data.promises
    return {
        "trend": {
            "kind": "line",
            "labels": [t["label"] for t in trend],
            "values": [number(t["percent"]) for t in trend],
            "x": _("Month"),
            "y": _("Cancelled share, %"),
            "unit": "%",
            "color": COLORS["trend"],
        },
        "buckets": {
            "kind": "bar",
            "labels": [b["short"] for b in buckets],
            "values": [b["clients"] for b in buckets],
            "x": _("Days overdue"),
            "y": _("Overdue clients"),
            "unit": "",
            "color": COLORS["buckets"],
        },
        "promises": {
            "kind": "bar",
            "labels": [_("kept"), _("broken"), _("pending")],
            "values": [promises["kept"], promises["broken"], promises["pending"]],
            "x": _("Promises to pay"),
            "y": _("Promises"),
            "unit": "",
            "color": COLORS["promises"],
        },
    }


def _ranking(request, today: dt.date):
    """One page of the participants ranked by recovery (staff, on the whole book)."""
    paginator = Paginator(recovery_ranking(today=today), RANKING_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("ranking_page"))
    for offset, participant in enumerate(page.object_list, start=page.start_index()):
        participant.rank = offset
        # SQLite sums decimals as floats: back to cents.
        participant.recovered = Decimal(participant.recovered).quantize(CENT)
        participant.link = f"{reverse('dashboard')}?{urlencode({'participant': participant.pk})}"
    return page


@login_required
def dashboard(request) -> HttpResponse:
    try:
        scope = request_scope(request, request.GET.get("participant"))
    except ScopeRefused as refused:
        return render(
            request, "dashboard/refused.html", {"message": refused.message}, status=refused.status
        )
    today = business_today()
    root = scope.root
    data = figures(root=root, today=today)
    data.trend = snapshots.trend(root=root, today=today, current=data.cancelled_share)
    link = _structure_links(request, root)
    buckets = _bucket_rows(data, link)
    trend = [
        {
            "month": t["month"],
            "label": _month_label(t["month"]),
            "percent": percent(t["cancelled_share"]),
        }
        for t in data.trend
    ]
    staff = request.user.is_staff
    return render(
        request,
        "dashboard/dashboard.html",
        {
            "data": data,
            "root": root,
            "buckets": buckets,
            "overdue_amount": sum((b.amount for b in data.overdue_by_bucket), Decimal("0.00")),
            "trend": trend,
            "grid": _segment_grid(data, link),
            "charts": _charts(data, buckets, trend),
            "cancelled_percent": percent(data.cancelled_share),
            "cure_percent": percent(data.cure_rate_30d),
            "within_percent": percent(data.first_contact_within_10h_share),
            "ranking": _ranking(request, today) if staff and root is None else None,
            "participants": Investor.objects.participants().order_by("name").only("pk", "name")
            if staff
            else [],
            "clients_link": link(),
            "overdue_link": link(overdue="true"),
            "cancelled_link": link(plan_status="cancelled"),
        },
    )
