"""The /dashboard/ page: the participants ranked by recovery (staff), the activity grid and
every label in English and in Hindi."""

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clients.models import Investor
from dashboard.views import RANKING_PAGE_SIZE
from tests.factories import participant

from .portfolio import build

TODAY = dt.date(2026, 3, 31)


@pytest.fixture
def today(time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 31, 6, 30, tzinfo=dt.UTC), tick=False)
    return TODAY


def _page(user, language="en", **query):
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    response = client.get("/dashboard/", query)
    assert response.status_code == 200
    return response.content.decode()


def _ranking_rows(html: str) -> list[tuple[str, str, Decimal]]:
    """(rank, participant id, recovered) of each row of the ranking table."""
    table = re.search(r'<table class="plain" data-table="ranking">.*?</table>', html, re.S)
    assert table, "no ranking table"
    rows = re.findall(
        r'<tr><td>(\d+)</td><td><a href="/dashboard/\?participant=(\d+)">[^<]*</a></td>'
        r'<td class="money">([^<]*)</td>',
        table.group(0),
    )
    return [(rank, pk, Decimal(re.sub(r"[^\d.]", "", money))) for rank, pk, money in rows]


@pytest.mark.django_db
def test_staff_see_the_participants_ranked_by_recovery_each_equal_to_their_dashboard(today, staff):
    roots = [build(seed, today, size=6) for seed in (11, 12, 13, 14)]
    # Two with nothing recovered: equal amounts go by name.
    zoe, abel = participant("zoe", name="Zoe Idle"), participant("abel", name="Abel Idle")
    rows = _ranking_rows(_page(staff))
    assert len(rows) == 6
    assert [rank for rank, _, _ in rows] == [str(n) for n in range(1, 7)]
    amounts = [amount for _, _, amount in rows]
    assert amounts == sorted(amounts, reverse=True)
    idle = [int(pk) for _, pk, amount in rows if amount == 0]
    names = dict(Investor.objects.filter(pk__in=idle).values_list("pk", "name"))
    assert [names[pk] for pk in idle] == sorted(names[pk] for pk in idle)
    assert idle.index(abel.pk) < idle.index(zoe.pk)
    client = Client()
    client.force_login(staff)
    for root in roots:
        answer = client.get("/api/dashboard/", {"participant": root.pk}).json()
        (mine,) = [amount for _, pk, amount in rows if pk == str(root.pk)]
        assert mine == Decimal(answer["recovered_in_grace_30d"])
    assert any(amount > 0 for amount in amounts)


@pytest.mark.django_db
def test_the_ranking_is_paged_and_costs_the_same_queries_whatever_the_number_of_participants(
    today, staff
):
    build(21, today, size=4)
    client = Client()
    client.force_login(staff)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/dashboard/").status_code == 200
    for n in range(RANKING_PAGE_SIZE + 3):
        participant(f"extra{n}", name=f"Extra {n:02d}")
    with CaptureQueriesContext(connection) as many:
        html = client.get("/dashboard/").content.decode()
    assert len(many) == len(few) <= 25
    assert len(_ranking_rows(html)) == RANKING_PAGE_SIZE
    assert 'href="?ranking_page=2"' in html
    second = _ranking_rows(_page(staff, ranking_page=2))
    assert [rank for rank, _, _ in second] == [str(n) for n in range(11, 15)]
    # A participant sees no ranking; nor does staff looking at one participant.
    assert 'data-table="ranking"' not in _page(staff, participant=second[0][1])


@pytest.mark.django_db
def test_the_activity_grid_shows_each_cell_by_name_with_its_count_and_structure_link(today):
    root = build(5, today)
    answer = Client()
    answer.force_login(root.user)
    segments = answer.get("/api/dashboard/").json()["segments"]
    html = _page(root.user)
    names = {
        "new": "new",
        "one_time": "one-time",
        "growing": "growing",
        "lost": "lost",
        "vip": "VIP",
    }
    for code, label in names.items():
        cell = re.search(rf'<td[^>]*data-segment="{code}">(.*?)</td>', html, re.S).group(1)
        assert f'href="/structure/?segment={code}"' in cell
        assert f'<span class="label">{label}</span> <strong>{segments[code]}</strong>' in cell
    # Not recent with many activities is lost too: the one cell spans both columns.
    assert 'colspan="2" class="cell lost"' in html


def _structure_links(html: str) -> list[str]:
    links = re.findall(r'href="(/structure/[^"]*)"', html)
    assert links, "no link to the Structure"
    return [link.replace("&amp;", "&") for link in links]


@pytest.mark.django_db
def test_a_participant_s_figures_link_to_their_own_structure_filtered(today):
    """Each figure's link opens the participant's own Structure (a participant may not name
    one, staff do), listing as many clients as the figure counts."""
    root = build(5, today)
    client = Client()
    client.force_login(root.user)
    figures = client.get("/api/dashboard/").json()
    links = _structure_links(_page(root.user))
    assert not [link for link in links if "participant=" in link]
    for link in links:
        assert client.get(link).status_code == 200, link
    api = {link: client.get(link.replace("/structure/", "/api/structure/")) for link in links}
    assert api["/structure/?overdue=true"].json()["count"] == figures["overdue_clients"]
    for bucket in figures["overdue_by_bucket"]:
        answer = api[f"/structure/?bucket={bucket['bucket']}"]
        assert answer.json()["count"] == bucket["clients"], bucket


@pytest.mark.django_db
def test_staff_looking_at_one_participant_link_to_that_participant_s_structure(today, staff):
    root = build(5, today)
    client = Client()
    client.force_login(staff)
    # The bare /structure/ is the site's menu (staff's own Structure, of nobody).
    links = [link for link in _structure_links(_page(staff, participant=root.pk)) if "?" in link]
    assert len(links) > 5
    for link in links:
        assert f"participant={root.pk}" in link
        assert client.get(link).status_code == 200, link


ENGLISH = [
    "Dashboard",
    "Overdue clients",
    "Cancelled share by month",
    "Client activity",
    "Recovery",
    "Promises to pay",
    "days overdue",
    "one-time",
    "past the deadline",
    "Participants by recovery",
    "The whole book",
]


@pytest.mark.django_db
def test_every_label_is_in_hindi_on_the_hindi_page(today, staff):
    root = build(3, today)
    english = _page(root.user, "en")
    hindi = _page(root.user, "hi")
    assert 'lang="hi"' in hindi
    for words in ENGLISH[:-2]:
        assert words in english, words
        assert words not in hindi, words
    for words in ("डैशबोर्ड", "ग्राहक गतिविधि", "एक बार वाले", "1–7 दिन बकाया", "भुगतान के वादे"):
        assert words in hindi, words
    # The charts' axis titles and bars come translated too.
    charts = re.search(r'<script id="chart-promises" type="application/json">(.*?)</script>', hindi)
    spec = json.loads(charts.group(1))
    assert spec["labels"] == ["निभाया", "टूटा", "बाकी"] and spec["y"] == "वादे"
    book = _page(staff, "hi")
    assert "Participants by recovery" not in book and "The whole book" not in book


@pytest.mark.django_db
def test_the_all_overdue_row_totals_the_buckets_amounts(today):
    root = build(31, today)
    answer = Client()
    answer.force_login(root.user)
    buckets = answer.get("/api/dashboard/").json()["overdue_by_bucket"]
    total = sum(Decimal(b["amount"]) for b in buckets)
    assert total > 0
    html = _page(root.user)
    footer = re.search(r"<tfoot>.*?</tfoot>", html, re.S)
    assert footer and "All overdue" in footer.group(0)
    cell = re.search(
        r'<td class="money" data-figure="overdue_amount">([^<]*)</td>', footer.group(0)
    )
    assert cell, "no total amount in the All overdue row"
    # Written as the buckets' amounts are: grouped, two places, the currency.
    assert cell.group(1) == f"{total:,.2f} {settings.CURRENCY}"
