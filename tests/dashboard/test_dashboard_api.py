"""GET /api/dashboard/ (docs/rules.md, Dashboard): every figure equal to a fresh computation
from the plans and payments, and the counts the Structure's own."""

import datetime as dt
import re

import pytest
from rest_framework.test import APIClient

from backoffice.lib import dates
from installments.rules import Segment

from .portfolio import build, expected

TODAY = dt.date(2026, 3, 31)


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(dates, "business_today", lambda now=None: TODAY)
    monkeypatch.setattr("backoffice.lib.api.business_today", lambda now=None: TODAY)
    monkeypatch.setattr("structure.filters.business_today", lambda now=None: TODAY)
    monkeypatch.setattr("structure.views.business_today", lambda now=None: TODAY)
    monkeypatch.setattr("dashboard.views.business_today", lambda now=None: TODAY)
    return TODAY


def _as(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_figure_equals_a_fresh_computation_from_plans_and_payments(seed, today):
    root = build(seed, today)
    answer = _as(root.user).get("/api/dashboard/").json()
    for name, value in expected(root, today).items():
        assert answer[name] == value, name
    assert answer["as_of"] == today.isoformat()
    assert sum(answer["segments"].values()) <= answer["clients"]
    assert set(answer["segments"]) == set(Segment.ALL)
    assert answer["trend"][-1] == {"month": "2026-03", "cancelled_share": answer["cancelled_share"]}


@pytest.mark.django_db
def test_the_counts_agree_with_the_structure(today, staff_client):
    root = build(7, today)
    mine = _as(root.user)
    answer = mine.get("/api/dashboard/").json()
    overdue = mine.get("/api/structure/", {"overdue": "true"}).json()
    everyone = mine.get("/api/structure/").json()
    assert answer["overdue_clients"] == overdue["count"]
    assert answer["clients"] == everyone["count"]
    as_staff = staff_client.get("/api/dashboard/", {"participant": root.pk}).json()
    assert as_staff == answer


@pytest.mark.django_db
def test_staff_read_the_whole_book_and_participants_cannot_choose(today, staff_client):
    root = build(4, today, size=5)
    book = staff_client.get("/api/dashboard/").json()
    assert book["clients"] >= 6
    refused = _as(root.user).get("/api/dashboard/", {"participant": root.pk})
    assert refused.status_code == 400
    assert staff_client.get("/api/dashboard/", {"participant": 999999}).status_code == 400
    assert APIClient().get("/api/dashboard/").status_code in (401, 403)


@pytest.mark.django_db
def test_each_segment_count_is_the_structures_segment_filter(today):
    root = build(5, today)
    mine = _as(root.user)
    answer = mine.get("/api/dashboard/").json()
    for segment, count in answer["segments"].items():
        listed = mine.get("/api/structure/", {"segment": segment})
        assert listed.status_code == 200
        assert listed.json()["count"] == count, segment
    browser = APIClient()
    browser.force_login(root.user)
    page = browser.get("/structure/", {"segment": "growing"})
    assert page.status_code == 200
    assert page.context["page"].paginator.count == answer["segments"]["growing"]
    assert mine.get("/api/structure/", {"segment": "nobody"}).status_code == 400


@pytest.mark.django_db
def test_the_page_shows_the_apis_figures_with_tables_and_links(today, staff):
    root = build(3, today)
    answer = _as(root.user).get("/api/dashboard/").json()
    browser = APIClient()
    browser.force_login(root.user)
    page = browser.get("/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "<table" in html
    # The charts are drawn without script: the only script is the site's own file.
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="/static/js/site.js" defer>']
    assert f"{answer['overdue_clients']} overdue client" in html
    assert "/structure/?overdue=true" in html or "overdue=true" in html
    browser.force_login(staff)
    assert browser.get("/dashboard/").status_code == 200
    assert browser.get("/dashboard/", {"participant": root.pk}).status_code == 200


@pytest.mark.django_db
def test_snapshots_are_written_once_a_day_and_the_backfill_is_idempotent(today):
    from dashboard.models import Snapshot
    from dashboard.snapshots import snapshots_backfill, snapshots_write

    root = build(6, today, size=6)
    assert snapshots_write(today=today) == 2
    assert snapshots_write(today=today) == 2
    assert Snapshot.objects.filter(as_of=today).count() == 2
    first = snapshots_backfill(today=today)
    assert first > 0
    assert snapshots_backfill(today=today) == 0
    mine = Snapshot.objects.get(as_of=today, participant=root)
    answer = _as(root.user).get("/api/dashboard/").json()
    assert mine.overdue_clients == answer["overdue_clients"]
    assert f"{mine.cancelled:.2f}" == answer["cancelled"]
