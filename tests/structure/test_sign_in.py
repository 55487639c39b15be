"""Signing in, out and changing a password; throttled sign-in on every way in."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.factories import StaffFactory, participant

PASSWORD = "correct-horse-battery"


@pytest.fixture
def priya(db):
    return participant("priya", name="Priya Sharma")


def test_the_structure_asks_an_anonymous_visitor_to_sign_in(client, db):
    response = client.get("/structure/?overdue=true")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/structure/%3Foverdue%3Dtrue"


def test_a_participant_signs_in_and_lands_on_their_structure(client, priya):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()
    response = client.post("/accounts/login/", {"username": "priya", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(response["Location"]).url == "/structure/"
    assert client.get("/structure/").status_code == 200


def test_an_investor_signs_in_and_lands_on_their_plans(client, priya):
    from clients.services import investor_grant_login
    from tests.factories import InvestorFactory

    aarav = InvestorFactory(name="Aarav Desai", sponsor=priya)
    investor_grant_login(investor=aarav, username="aarav", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "aarav", "password": PASSWORD})
    assert client.get(response["Location"]).url == "/me/"
    assert "Aarav Desai" in client.get("/me/").content.decode()
    # The Structure is not theirs: it sends them to their plans.
    assert client.get("/structure/").url == "/me/"


def test_the_sign_in_page_offers_the_reset_by_email_and_nothing_contradicting_it(client, db):
    page = client.get("/accounts/login/").content.decode()
    assert '<a href="/accounts/password/reset/">Forgot your password?</a>' in page
    assert page.count("Forgot your password?") == 1
    assert "Ask an administrator" not in page


def test_an_investor_resets_a_forgotten_password_by_email(client, priya, mailoutbox):
    import re

    from clients.services import investor_grant_login
    from tests.factories import InvestorFactory

    aarav = InvestorFactory(name="Aarav Desai", sponsor=priya, email="aarav@example.com")
    investor_grant_login(investor=aarav, username="aarav", password=PASSWORD)
    response = client.post("/accounts/password/reset/", {"email": "aarav@example.com"})
    assert response.status_code == 302
    [mail] = mailoutbox
    link = re.search(r"https?://[^/]+(/accounts/password/reset/\S+)", mail.body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200
    new = "another-long-pass-2026"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.status_code == 302
    client.logout()
    signed_in = client.post("/accounts/login/", {"username": "aarav", "password": new})
    assert client.get(signed_in["Location"]).url == "/me/"
    # The link works once.
    assert "no longer works" in client.get(link, follow=True).content.decode()


def test_signing_in_returns_to_the_page_asked_for(client, priya):
    response = client.post(
        "/accounts/login/",
        {"username": "priya", "password": PASSWORD, "next": "/structure/?overdue=true"},
    )
    assert response["Location"] == "/structure/?overdue=true"


def test_a_wrong_password_shows_an_error_and_signs_nobody_in(client, priya):
    response = client.post("/accounts/login/", {"username": "priya", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert client.get("/structure/").status_code == 302


def test_signing_out_ends_the_session(client, priya):
    client.force_login(priya.user)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/structure/").status_code == 302


def test_a_participant_changes_their_password(client, priya):
    client.force_login(priya.user)
    assert client.get("/accounts/password/").status_code == 200
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-longer-passphrase-2026",
            "new_password2": "a-much-longer-passphrase-2026",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/done/"
    user = get_user_model().objects.get(pk=priya.user.pk)
    assert user.check_password("a-much-longer-passphrase-2026")


def test_a_weak_new_password_is_refused_with_a_message(client, priya):
    client.force_login(priya.user)
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": "123", "new_password2": "123"},
    )
    assert response.status_code == 200
    assert "This password is too short" in response.content.decode()
    assert get_user_model().objects.get(pk=priya.user.pk).check_password(PASSWORD)


# ---------------------------------------------------------------------------- throttling


def _fail(client, url, username, times):
    for _ in range(times):
        client.post(url, {"username": username, "password": "wrong"})


def test_the_site_sign_in_locks_after_repeated_failures_with_a_clear_page(
    client, priya, login_throttling
):
    _fail(client, "/accounts/login/", "priya", 3)
    response = client.post("/accounts/login/", {"username": "priya", "password": PASSWORD})
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many sign-in attempts" in body
    assert "Signing in failed 3 times in a row" in body
    assert client.get("/structure/").status_code == 302  # the right password did not get in


def test_a_lockout_is_for_that_username_only(client, priya, login_throttling):
    participant("arjun", name="Arjun Mehta")
    _fail(client, "/accounts/login/", "priya", 3)
    response = client.post("/accounts/login/", {"username": "arjun", "password": PASSWORD})
    assert response.status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, priya, login_throttling):
    _fail(client, "/accounts/login/", "priya", 2)
    assert (
        client.post("/accounts/login/", {"username": "priya", "password": PASSWORD}).status_code
        == 302
    )
    client.post("/accounts/logout/")
    _fail(client, "/accounts/login/", "priya", 2)
    assert (
        client.post("/accounts/login/", {"username": "priya", "password": PASSWORD}).status_code
        == 302
    )


def test_the_admin_sign_in_is_throttled_too(client, db, login_throttling):
    StaffFactory(username="boss")
    _fail(client, "/admin/login/", "boss", 3)
    response = client.post("/admin/login/", {"username": "boss", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()


def test_the_api_token_endpoint_is_throttled_too(priya, login_throttling):
    client = APIClient()
    for _ in range(3):
        client.post("/api/auth/token/", {"username": "priya", "password": "wrong"})
    response = client.post("/api/auth/token/", {"username": "priya", "password": PASSWORD})
    assert response.status_code == 429
    assert "token" not in response.content.decode()


def test_the_api_token_is_given_with_throttling_on(priya, login_throttling):
    response = APIClient().post("/api/auth/token/", {"username": "priya", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["token"]
