"""Who may read and write what: every Structure page and endpoint × the participant's own
investor / another participant's investor / staff / anonymous."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from structure.models import ContactLogEntry
from tests.factories import StaffFactory

CONTACT = {"outcome": "reached", "note": "Spoke to them."}


@pytest.fixture
def who(structure):
    """A signed-in client (page and API) for each kind of visitor."""

    def make(kind):
        page, api = Client(), APIClient()
        user = {
            "participant": structure.root.user,
            "staff": StaffFactory(),
            "anonymous": None,
        }[kind]
        if user is not None:
            page.force_login(user)
            api.force_authenticate(user)
        return page, api

    return make


def target(structure, whose):
    """`own`: an investor in the participant's structure; `other`: in another's."""
    return {"own": structure.bina, "other": structure.xavier}[whose]


# ---------------------------------------------------------------------------- pages

PAGE_MATRIX = [
    # (visitor, whose investor, expected status)
    ("participant", "own", 200),
    ("participant", "other", 404),
    ("staff", "own", 200),
    ("staff", "other", 200),
    ("anonymous", "own", 302),
    ("anonymous", "other", 302),
]


@pytest.mark.parametrize(("visitor", "whose", "expected"), PAGE_MATRIX)
def test_the_investor_page(who, structure, visitor, whose, expected):
    page, _ = who(visitor)
    response = page.get(f"/structure/investors/{target(structure, whose).pk}/")
    assert response.status_code == expected
    if visitor == "anonymous":
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(("visitor", "whose", "expected"), PAGE_MATRIX)
def test_logging_a_contact_from_the_investor_page(who, structure, visitor, whose, expected):
    page, _ = who(visitor)
    investor = target(structure, whose)
    response = page.post(f"/structure/investors/{investor.pk}/contacts/", CONTACT)
    written = ContactLogEntry.objects.filter(investor=investor).count()
    if expected == 200:
        assert response.status_code == 302
        assert written == 1
    else:
        assert response.status_code == expected
        assert written == 0


@pytest.mark.parametrize(
    ("visitor", "query", "expected", "sees"),
    [
        ("participant", "", 200, "Bina Shah"),
        ("participant", "participant={other}", 400, None),
        ("staff", "participant={own}", 200, "Bina Shah"),
        ("staff", "participant={other}", 200, "Xavier Das"),
        ("anonymous", "", 302, None),
    ],
)
@pytest.mark.parametrize("path", ["/structure/", "/structure/export.csv"])
def test_the_structure_page_and_its_export(who, structure, visitor, query, expected, sees, path):
    page, _ = who(visitor)
    query = query.format(own=structure.root.pk, other=structure.other_root.pk)
    response = page.get(f"{path}?{query}")
    assert response.status_code == expected
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode()
    if sees:
        assert sees in body
    # Whatever the visitor, another structure's investors never leak into this one.
    if visitor == "participant":
        assert "Xavier Das" not in body


# ---------------------------------------------------------------------------- API


@pytest.mark.parametrize(
    ("visitor", "query", "expected"),
    [
        ("participant", "", 200),
        ("participant", "participant={other}", 400),
        ("staff", "participant={other}", 200),
        ("anonymous", "", 401),
    ],
)
def test_the_structure_endpoint(who, structure, visitor, query, expected):
    _, api = who(visitor)
    query = query.format(other=structure.other_root.pk)
    response = api.get(f"/api/structure/?{query}")
    assert response.status_code == expected
    if expected == 200:
        names = {row["name"] for row in response.json()["results"]}
        assert ("Xavier Das" in names) == (visitor == "staff")


API_MATRIX = [
    ("participant", "own", 200, 201),
    ("participant", "other", 404, 404),
    ("staff", "own", 200, 201),
    ("staff", "other", 200, 201),
    ("anonymous", "own", 401, 401),
    ("anonymous", "other", 401, 401),
]


@pytest.mark.parametrize(("visitor", "whose", "read", "write"), API_MATRIX)
def test_the_contact_log_endpoint(who, structure, visitor, whose, read, write):
    _, api = who(visitor)
    investor = target(structure, whose)
    url = f"/api/investors/{investor.pk}/contacts/"
    assert api.get(url).status_code == read
    response = api.post(url, json.dumps(CONTACT), content_type="application/json")
    assert response.status_code == write
    assert ContactLogEntry.objects.filter(investor=investor).count() == (write == 201)


@pytest.mark.parametrize(("visitor", "whose", "read", "write"), API_MATRIX)
def test_an_investors_plans_through_the_api(who, structure, visitor, whose, read, write):
    _, api = who(visitor)
    investor = target(structure, whose)
    response = api.get(f"/api/plans/?investor={investor.pk}")
    if read == 401:
        assert response.status_code == 401
    else:
        assert response.status_code == 200
        assert (response.json()["count"] == 1) == (read == 200)
