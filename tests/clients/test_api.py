"""The investors API and token sign-in (the API in the README): the contract integrators rely on."""

import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from clients.models import Investor
from clients.services import investor_move
from tests.factories import InvestorFactory, UserFactory, participant

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "name",
    "sponsor",
    "phone",
    "email",
    "messenger",
    "language",
    "time_zone",
    "is_participant",
    "can_sign_in",
}


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def patch(client, url, data):
    return client.patch(url, json.dumps(data), content_type="application/json")


NEW_INVESTOR = {
    "name": "Asha Verma",
    "phone": "+919800000001",
    "email": "asha@example.com",
    "messenger": "@asha_verma",
    "language": "hi",
}


# ---------------------------------------------------------------------------- creating


def test_staff_add_an_investor_at_the_top_of_a_new_tree(staff_client):
    response = post(staff_client, "/api/investors/", NEW_INVESTOR)
    assert response.status_code == 201, response.json()
    body = response.json()
    investor = Investor.objects.get()
    assert body == {
        "id": investor.pk,
        "sponsor": None,
        "is_participant": False,
        "can_sign_in": False,
        "time_zone": "",
        **NEW_INVESTOR,
    }
    assert investor.depth == 1 and investor.path


def test_staff_add_an_investor_under_a_sponsor_and_they_join_the_sponsors_structure(
    staff_client,
):
    sponsor = InvestorFactory()
    response = post(staff_client, "/api/investors/", {"name": "Ravi", "sponsor": sponsor.pk})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sponsor"] == sponsor.pk
    assert (body["phone"], body["email"], body["messenger"], body["language"]) == ("", "", "", "en")
    assert list(Investor.objects.in_structure_of(sponsor).values_list("pk", flat=True)) == [
        body["id"]
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", None),
        ("sponsor", 999999),
        ("sponsor", "abc"),
        ("email", "not-an-email"),
        ("language", "fr"),
        ("phone", "9" * 40),
        ("time_zone", "Mars/Olympus"),
    ],
)
def test_bad_investor_input_is_a_400_on_the_field_and_adds_nobody(staff_client, field, value):
    response = post(staff_client, "/api/investors/", {**NEW_INVESTOR, field: value})
    assert response.status_code == 400
    assert field in response.json()
    assert not Investor.objects.exists()


def test_an_investor_keeps_their_own_time_zone(staff_client):
    data = {**NEW_INVESTOR, "time_zone": "Asia/Kathmandu"}
    response = post(staff_client, "/api/investors/", data)
    assert response.status_code == 201
    investor = Investor.objects.get(pk=response.json()["id"])
    assert str(investor.zone) == "Asia/Kathmandu"


def test_an_investor_without_a_time_zone_lives_in_the_business_time_zone(settings):
    investor = Investor(name="Asha")
    assert investor.zone == settings.BUSINESS_TIME_ZONE


def test_a_missing_name_is_a_400_on_name(staff_client):
    response = post(staff_client, "/api/investors/", {"phone": "+919800000001"})
    assert response.status_code == 400
    assert response.json() == {"name": ["This field is required."]}


def test_only_staff_add_investors(participant_client, anonymous_client):
    assert post(participant_client, "/api/investors/", NEW_INVESTOR).status_code == 403
    assert post(anonymous_client, "/api/investors/", NEW_INVESTOR).status_code == 401
    assert Investor.objects.count() == 1  # the participant themselves


# ---------------------------------------------------------------------------- who sees whom


@pytest.fixture
def people(participant_investor):
    """The participant's sponsor above them, a client and a client's client below them, and
    another participant's client."""
    above = InvestorFactory()
    investor_move(investor=participant_investor, sponsor=above)
    participant_investor.refresh_from_db()
    client = InvestorFactory(sponsor=participant_investor)
    grandchild = InvestorFactory(sponsor=client)
    other_participant = participant("other")
    stranger = InvestorFactory(sponsor=other_participant)
    return {
        "above": above,
        "client": client,
        "grandchild": grandchild,
        "other_participant": other_participant,
        "stranger": stranger,
    }


def test_a_participant_lists_themselves_and_their_whole_structure(
    participant_client, participant_investor, people
):
    response = participant_client.get("/api/investors/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    ids = {row["id"] for row in body["results"]}
    assert ids == {participant_investor.pk, people["client"].pk, people["grandchild"].pk}
    assert set(body["results"][0]) == FIELDS


def test_a_participant_reads_an_investor_of_their_structure(participant_client, people):
    response = participant_client.get(f"/api/investors/{people['grandchild'].pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["sponsor"] == people["client"].pk
    assert isinstance(body["id"], int)


@pytest.mark.parametrize("who", ["above", "other_participant", "stranger"])
def test_an_investor_outside_the_participants_structure_is_a_404(participant_client, people, who):
    assert participant_client.get(f"/api/investors/{people[who].pk}/").status_code == 404


def test_an_investor_that_does_not_exist_is_a_404(participant_client, staff_client):
    assert participant_client.get("/api/investors/999999/").status_code == 404
    assert staff_client.get("/api/investors/999999/").status_code == 404


def test_staff_read_every_investor(staff_client, participant_investor, people):
    assert staff_client.get("/api/investors/").json()["count"] == 6
    assert staff_client.get(f"/api/investors/{people['stranger'].pk}/").status_code == 200


def test_a_signed_in_user_who_is_not_a_participant_sees_no_investor(people):
    client = APIClient()
    client.force_authenticate(UserFactory())
    assert client.get("/api/investors/").json()["count"] == 0
    assert client.get(f"/api/investors/{people['client'].pk}/").status_code == 404


def test_anonymous_requests_to_investors_are_a_401(anonymous_client, people):
    assert anonymous_client.get("/api/investors/").status_code == 401
    assert anonymous_client.get(f"/api/investors/{people['client'].pk}/").status_code == 401


# ---------------------------------------------------------------------------- editing


def test_staff_edit_an_investors_contacts(staff_client):
    investor = InvestorFactory(phone="+919811111111")
    response = patch(
        staff_client,
        f"/api/investors/{investor.pk}/",
        {"phone": "+91 98222 22222", "language": "ne"},
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["phone"], response.json()["language"]) == ("+919822222222", "ne")
    investor.refresh_from_db()
    assert (investor.phone, investor.language) == ("+919822222222", "ne")


def test_a_new_sponsor_moves_the_investor_with_their_whole_structure(staff_client):
    old, new = InvestorFactory(), InvestorFactory()
    investor = InvestorFactory(sponsor=old)
    client = InvestorFactory(sponsor=investor)
    response = patch(staff_client, f"/api/investors/{investor.pk}/", {"sponsor": new.pk})
    assert response.status_code == 200, response.json()
    assert response.json()["sponsor"] == new.pk
    assert set(Investor.objects.in_structure_of(new)) == {investor, client}
    assert not Investor.objects.in_structure_of(old).exists()


def test_moving_an_investor_under_their_own_client_is_a_400_on_sponsor(staff_client):
    investor = InvestorFactory()
    client = InvestorFactory(sponsor=investor)
    response = patch(staff_client, f"/api/investors/{investor.pk}/", {"sponsor": client.pk})
    assert response.status_code == 400
    assert "sponsor" in response.json()
    investor.refresh_from_db()
    assert investor.sponsor is None


def test_a_bad_edit_is_a_400_and_changes_nothing(staff_client):
    investor = InvestorFactory(email="ok@example.com")
    response = patch(
        staff_client, f"/api/investors/{investor.pk}/", {"email": "nope", "name": "New"}
    )
    assert response.status_code == 400
    assert "email" in response.json()
    investor.refresh_from_db()
    assert investor.email == "ok@example.com"


def test_only_staff_edit_investors(participant_client, participant_investor, people):
    url = f"/api/investors/{people['client'].pk}/"
    assert patch(participant_client, url, {"phone": "+9"}).status_code == 403
    url = f"/api/investors/{participant_investor.pk}/"
    assert patch(participant_client, url, {"phone": "+9"}).status_code == 403


def test_investors_cannot_be_replaced_or_deleted_through_the_api(staff_client):
    investor = InvestorFactory()
    url = f"/api/investors/{investor.pk}/"
    assert staff_client.put(url, NEW_INVESTOR, format="json").status_code == 405
    assert staff_client.delete(url).status_code == 405


# ---------------------------------------------------------------------------- grant login


def test_staff_grant_an_investor_a_login_and_they_can_sign_in_as_a_participant(staff_client):
    investor = InvestorFactory()
    response = post(
        staff_client,
        f"/api/investors/{investor.pk}/grant-login/",
        {"username": "ravi", "password": "a-long-unusual-passphrase"},
    )
    assert response.status_code == 201, response.json()
    assert response.json() == {"investor": investor.pk, "username": "ravi"}
    investor.refresh_from_db()
    assert investor.is_participant
    token = post(
        APIClient(),
        "/api/auth/token/",
        {"username": "ravi", "password": "a-long-unusual-passphrase"},
    )
    assert token.status_code == 200
    assert staff_client.get(f"/api/investors/{investor.pk}/").json()["is_participant"] is True


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"username": "ravi", "password": "123"}, "password"),
        ({"username": "ravi", "password": "password"}, "password"),
        ({"username": "", "password": "a-long-unusual-passphrase"}, "username"),
        ({"username": "has space", "password": "a-long-unusual-passphrase"}, "username"),
        ({"username": "TAKEN", "password": "a-long-unusual-passphrase"}, "username"),
        ({"password": "a-long-unusual-passphrase"}, "username"),
        ({"username": "ravi"}, "password"),
    ],
)
def test_a_bad_login_is_a_400_on_the_field_and_creates_no_user(staff_client, data, field):
    UserFactory(username="taken")
    investor = InvestorFactory()
    users = get_user_model().objects.count()
    response = post(staff_client, f"/api/investors/{investor.pk}/grant-login/", data)
    assert response.status_code == 400
    assert field in response.json()
    assert get_user_model().objects.count() == users
    investor.refresh_from_db()
    assert not investor.is_participant


def test_granting_a_second_login_to_a_participant_is_a_409(staff_client, participant_investor):
    response = post(
        staff_client,
        f"/api/investors/{participant_investor.pk}/grant-login/",
        {"username": "another", "password": "a-long-unusual-passphrase"},
    )
    assert response.status_code == 409
    assert "username" in response.json()


def test_only_staff_grant_logins(participant_client, anonymous_client, people):
    url = f"/api/investors/{people['client'].pk}/grant-login/"
    data = {"username": "sneaky", "password": "a-long-unusual-passphrase"}
    assert post(participant_client, url, data).status_code == 403
    assert post(anonymous_client, url, data).status_code == 401
    assert not get_user_model().objects.filter(username="sneaky").exists()


def test_granting_a_login_to_an_investor_that_does_not_exist_is_a_404(staff_client):
    data = {"username": "ghost", "password": "a-long-unusual-passphrase"}
    assert post(staff_client, "/api/investors/999999/grant-login/", data).status_code == 404


# ---------------------------------------------------------------------------- token and session


def test_a_token_is_issued_for_a_username_and_password_and_authenticates_requests(
    participant_investor,
):
    response = post(
        APIClient(),
        "/api/auth/token/",
        {"username": "participant", "password": "correct-horse-battery"},
    )
    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    listed = client.get("/api/investors/").json()["results"]
    assert [row["id"] for row in listed] == [participant_investor.pk]


def test_a_wrong_password_gets_no_token(participant_investor):
    response = post(APIClient(), "/api/auth/token/", {"username": "participant", "password": "x"})
    assert response.status_code == 400
    assert "token" not in response.json()


def test_a_missing_username_is_a_400_on_username():
    response = post(APIClient(), "/api/auth/token/", {"password": "x"})
    assert response.status_code == 400
    assert "username" in response.json()


def test_an_invalid_token_is_a_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/investors/").status_code == 401


def test_a_browser_session_authenticates_too(participant_investor):
    client = APIClient()
    assert client.login(username="participant", password="correct-horse-battery")
    assert client.get("/api/investors/").status_code == 200
