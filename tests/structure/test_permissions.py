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


# ---------------------------------------------------------------------------- roles and self
#
# Every role (an investor who signs in to their plans, the participant, another participant,
# staff, anonymous) on every object page and endpoint, the self cases included: an investor
# never sees participant tools or the notes about them; a participant cannot log contacts
# about themselves nor read their upline's notes about them.

NOTE = "says salary comes on the 20th"


@pytest.fixture
def roles(structure):
    """Bina signs in to her plans; Asha (Bina's sponsor) is a participant herself, under the
    participant, who keeps notes about both."""
    from clients.services import investor_grant_login
    from structure.services import contact_log_record
    from tests.factories import UserFactory

    investor_grant_login(investor=structure.bina, username="bina", password="a-long-pass-2026")
    structure.asha.user = UserFactory(username="asha")
    structure.asha.save(update_fields=["user"])
    for person in (structure.bina, structure.asha):
        contact_log_record(
            investor=person,
            author=structure.root.user,
            outcome="reached",
            note=NOTE,
            today=structure.bina.plans.get().first_due_date,
        )
    structure.bina.refresh_from_db()
    return structure


def visitor(roles, kind):
    page, api = Client(), APIClient()
    user = {
        "investor": lambda: roles.bina.login,
        "participant": lambda: roles.root.user,
        "sub_participant": lambda: roles.asha.user,
        "other_participant": lambda: roles.other_root.user,
        "staff": StaffFactory,
        "anonymous": lambda: None,
    }[kind]()
    if user is not None:
        page.force_login(user)
        api.force_authenticate(user)
    return page, api


def person(roles, name):
    return {
        "bina": roles.bina,
        "asha": roles.asha,
        "root": roles.root,
        "xavier": roles.xavier,
        "other_root": roles.other_root,
    }[name]


# (visitor, investor page of, GET status, API contacts GET status)
INVESTOR_PAGE_MATRIX = [
    ("investor", "bina", 404, 404),  # self: no participant tools, no notes about herself
    ("investor", "asha", 404, 404),
    ("investor", "xavier", 404, 404),
    ("sub_participant", "asha", 404, 404),  # self: the upline's notes about her
    ("sub_participant", "bina", 200, 200),  # her own client
    ("sub_participant", "root", 404, 404),  # her upline
    ("participant", "root", 404, 404),  # self
    ("participant", "bina", 200, 200),
    ("participant", "asha", 200, 200),
    ("participant", "xavier", 404, 404),
    ("other_participant", "bina", 404, 404),
    ("other_participant", "xavier", 200, 200),
    ("other_participant", "other_root", 404, 404),  # self
    ("staff", "bina", 200, 200),
    ("staff", "root", 200, 200),
    ("staff", "xavier", 200, 200),
    ("anonymous", "bina", 302, 401),
]


@pytest.mark.parametrize(("kind", "whose", "page_status", "api_status"), INVESTOR_PAGE_MATRIX)
def test_the_investor_page_and_its_contact_log_for_every_role(
    roles, kind, whose, page_status, api_status
):
    page, api = visitor(roles, kind)
    target = person(roles, whose)
    response = page.get(f"/structure/investors/{target.pk}/")
    assert response.status_code == page_status
    assert (NOTE in response.content.decode()) == (page_status == 200 and whose in ("bina", "asha"))
    listed = api.get(f"/api/investors/{target.pk}/contacts/")
    assert listed.status_code == api_status
    if api_status != 200:
        assert NOTE not in listed.content.decode()


@pytest.mark.parametrize(("kind", "whose", "page_status", "api_status"), INVESTOR_PAGE_MATRIX)
def test_logging_a_contact_for_every_role(roles, kind, whose, page_status, api_status):
    page, api = visitor(roles, kind)
    target = person(roles, whose)
    before = ContactLogEntry.objects.filter(investor=target).count()
    by_page = page.post(f"/structure/investors/{target.pk}/contacts/", CONTACT)
    assert by_page.status_code == (302 if page_status == 200 else page_status)
    by_api = api.post(
        f"/api/investors/{target.pk}/contacts/",
        json.dumps(CONTACT),
        content_type="application/json",
    )
    assert by_api.status_code == (201 if api_status == 200 else api_status)
    written = ContactLogEntry.objects.filter(investor=target).count() - before
    assert written == (2 if page_status == 200 else 0)


# (visitor, /structure/, /me/, GET /api/me/, GET /api/investors/<bina>/)
OWN_PAGES_MATRIX = [
    ("investor", 302, 200, 200, 404),
    ("sub_participant", 200, 200, 200, 200),
    ("participant", 200, 200, 200, 200),
    ("other_participant", 200, 200, 200, 404),
    ("staff", 200, 404, 404, 200),  # staff pick a participant; they have no plans
    ("anonymous", 302, 302, 401, 401),
]


@pytest.mark.parametrize(("kind", "structure_page", "me", "api_me", "api_bina"), OWN_PAGES_MATRIX)
def test_the_structure_my_plans_and_me_for_every_role(
    roles, kind, structure_page, me, api_me, api_bina
):
    page, api = visitor(roles, kind)
    response = page.get("/structure/")
    assert response.status_code == structure_page
    if kind == "investor":
        assert response["Location"] == "/me/"
    if structure_page == 200 and kind != "staff":
        assert NOTE not in response.content.decode()
    mine = page.get("/me/")
    assert mine.status_code == me
    if me == 200:
        assert NOTE not in mine.content.decode()
        assert "Call" not in mine.content.decode() and "wa.me" not in mine.content.decode()
    assert api.get("/api/me/").status_code == api_me
    assert api.get(f"/api/investors/{roles.bina.pk}/").status_code == api_bina


# (visitor, POST /me/plans/<bina's plan>/help/, POST /api/me/help-requests/ for it,
#  then GET /api/help-requests/ count, POST …/answer/)
HELP_MATRIX = [
    ("investor", 302, 200, 0, 404),  # asks (the page, then the API adds to it)
    ("sub_participant", 404, 400, 1, 200),  # her client's request: hers to answer
    ("participant", 404, 400, 1, 200),
    ("other_participant", 404, 400, 0, 404),
    ("staff", 404, 404, 1, 200),
    ("anonymous", 302, 401, None, 401),
]


@pytest.mark.parametrize(("kind", "ask_page", "ask_api", "listed", "answer"), HELP_MATRIX)
def test_help_requests_for_every_role(roles, kind, ask_page, ask_api, listed, answer):
    from structure.help import help_request_ask
    from structure.models import HelpRequest

    plan = roles.bina.plans.get()
    page, api = visitor(roles, kind)
    asked = page.post(f"/me/plans/{plan.pk}/help/", {"message": "help"})
    assert asked.status_code == ask_page
    if kind == "anonymous":
        assert asked["Location"].startswith("/accounts/login/")
    by_api = api.post(
        "/api/me/help-requests/", json.dumps({"plan": plan.pk}), content_type="application/json"
    )
    assert by_api.status_code == ask_api
    assert HelpRequest.objects.count() == (1 if kind == "investor" else 0)
    request = help_request_ask(investor=roles.bina, plan=plan, today=plan.first_due_date)
    requests = api.get("/api/help-requests/")
    if listed is None:
        assert requests.status_code == 401
    else:
        assert requests.json()["count"] == listed
    assert api.post(f"/api/help-requests/{request.pk}/answer/").status_code == answer
    request.refresh_from_db()
    assert (request.answered_at is not None) == (answer == 200)
