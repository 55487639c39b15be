"""Findings 3 and 9: every id, page and page size in a query string is bounded; out of range
or malformed is a 400 naming the parameter, never a 500 (or a 404 for a malformed page)."""

import pytest

from tests.factories import StaffFactory, make_plan

TOO_BIG = "9223372036854775808"  # one past the largest BigAutoField id


@pytest.fixture
def staff_client(client, db):
    client.force_login(StaffFactory())
    make_plan()
    return client


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (f"/api/plans/?investor={TOO_BIG}", "investor"),
        (f"/api/payments/?plan={TOO_BIG}", "plan"),
        (f"/api/reminders/?plan={TOO_BIG}", "plan"),
        (f"/api/reminders/?investor={TOO_BIG}", "investor"),
        ("/api/reminders/?investor=0", "investor"),
        ("/api/plans/?investor=-1", "investor"),
    ],
)
def test_an_out_of_range_id_filter_is_a_400_naming_the_field(staff_client, url, field):
    response = staff_client.get(url)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=abc", "page"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=١", "page"),
        (f"page={TOO_BIG}", "page"),
        ("page_size=null", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=201", "page_size"),
        ("page_size=1.5", "page_size"),
    ],
)
def test_a_malformed_page_or_page_size_is_a_400(staff_client, query, field):
    response = staff_client.get(f"/api/plans/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_a_page_past_the_last_is_a_404_and_page_size_within_bounds_is_honoured(staff_client):
    assert staff_client.get("/api/plans/?page=2").status_code == 404
    response = staff_client.get("/api/plans/?page=1&page_size=200")
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_an_id_too_large_in_a_body_or_a_path_is_a_400_or_404(staff_client):
    response = staff_client.post(
        "/api/payments/",
        {"plan": int(TOO_BIG), "amount": "1.00", "received_on": "2025-01-10", "reference": "R"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "plan" in response.json()
    assert staff_client.get(f"/api/plans/{TOO_BIG}/").status_code == 404
