"""GET /api/dashboard/ (docs/rules.md, Dashboard): every figure equal to a fresh computation
from the plans and payments, and the counts the Structure's own."""

import datetime as dt
import re

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from dashboard.kept import kept_figures_refresh

from .portfolio import build, expected, more_payments

TODAY = dt.date(2026, 3, 31)


@pytest.fixture
def today(time_machine):
    # Noon in Asia/Kolkata: the business day is TODAY whatever the server's zone. (Not a
    # patched `business_today`: a module first imported meanwhile would keep the patch.)
    time_machine.move_to(dt.datetime(2026, 3, 31, 6, 30, tzinfo=dt.UTC), tick=False)
    return TODAY


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(6, 30), tzinfo=dt.UTC)


def _as(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(min_value=0, max_value=10**6),
    later=st.integers(min_value=1, max_value=45),
    kept_when=st.sampled_from(["never", "before the payments", "after the payments"]),
)
@example(seed=1, later=20, kept_when="before the payments")
def test_every_figure_equals_a_fresh_computation_from_plans_and_payments(
    seed, later, kept_when, today, staff, time_machine
):
    """For a random portfolio, each figure (a participant's and the whole book's) equals
    the plain-Python computation of `portfolio.expected`, and each count is the Structure's
    count of the filter the figure links to, whether the figures kept per investor were
    refreshed (`dashboard.kept`) never, before the last payments or after them; and again
    `later` days on, with no write in between (installments fall due, so what the read model
    kept for the day of the writes no longer holds), before and after a refresh for that
    day."""
    time_machine.move_to(_noon(today), tick=False)
    with transaction.atomic():
        root = build(seed, today)
        if kept_when == "before the payments":
            kept_figures_refresh(today=today)
        more_payments(seed, root, today)
        if kept_when == "after the payments":
            kept_figures_refresh(today=today)
        mine = _as(root.user)
        answer = mine.get("/api/dashboard/").json()
        fresh = expected(root, today)
        assert {name: answer[name] for name in fresh} == fresh
        assert answer["trend"][-1] == {
            "month": "2026-03",
            "cancelled_share": answer["cancelled_share"],
        }
        for row in answer["overdue_by_bucket"]:
            listed = mine.get("/api/structure/", {"bucket": row["bucket"]}).json()
            assert listed["count"] == row["clients"], row
        overdue = mine.get("/api/structure/", {"overdue": "true"}).json()
        assert answer["overdue_clients"] == overdue["count"]
        book = _as(staff).get("/api/dashboard/").json()
        fresh_book = expected(None, today)
        assert {name: book[name] for name in fresh_book} == fresh_book
        day = today + dt.timedelta(days=later)
        time_machine.move_to(_noon(day), tick=False)
        fresh = expected(root, day)
        answer = mine.get("/api/dashboard/").json()
        assert {name: answer[name] for name in fresh} == fresh
        kept_figures_refresh(today=day)
        answer = mine.get("/api/dashboard/").json()
        assert {name: answer[name] for name in fresh} == fresh
        transaction.set_rollback(True)


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
def test_the_pass_names_only_columns_of_the_head_figures_index(today):
    """The dashboard's one pass over a participant's structure reads
    `investor_head_figures_idx` alone (an index-only scan, PostgreSQL) only while it names no
    column outside it: not the id, not the whole path, no figure the index leaves out."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clients.models import Investor

    (index,) = [i for i in Investor._meta.indexes if i.name == "investor_head_figures_idx"]
    root = build(3, today)
    with CaptureQueriesContext(connection) as queries:
        assert _as(root.user).get("/api/dashboard/").status_code == 200
    (one_pass,) = [q["sql"] for q in queries if "kept_recovered" in q["sql"] and "SUM(" in q["sql"]]
    named = set(re.findall(r'"clients_investor"\."(\w+)"', one_pass))
    assert named <= {*index.fields, *index.include}
    assert {"path_head", "kept_segment", "kept_figures_stamp", "plans_price"} <= named


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
    # The charts: our own copy of Chart.js and the page's script, fed by JSON data blocks
    # (never an inline script, which the Content-Security-Policy refuses).
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert [s for s in scripts if "application/json" not in s] == [
        '<script src="/static/js/site.js" defer>',
        '<script src="/static/vendor/chartjs/chart.umd.min.js" defer>',
        '<script src="/static/js/dashboard.js" defer>',
    ]
    for chart in ("chart-trend", "chart-buckets", "chart-promises"):
        assert f'<script id="{chart}" type="application/json">' in html
        assert f'data-chart="{chart}"' in html
    assert "<table" in html and "<caption>" in html
    # The participant's own Structure: only staff name whose (test_dashboard_page).
    overdue_link = "/structure/?overdue=true"
    figure = (
        f'data-figure="overdue_clients"><a href="{overdue_link}">{answer["overdue_clients"]}</a>'
    )
    assert figure in html
    # Each bucket links to the Structure's exact bucket filter; each segment cell to its own.
    for row in answer["overdue_by_bucket"]:
        assert f'bucket={row["bucket"]}">{row["clients"]}</a>' in html
    assert "?segment=one_time" in html
    # Human labels, not codes.
    assert "one-time" in html and "past the deadline" in html and "1–7 days overdue" in html
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
