"""Finding 6: API tokens are rotated on a password change, revocable by their user and by
staff, and expire after API_TOKEN_TTL."""

import datetime as dt

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clients.tokens import token_with_user
from tests.factories import InvestorFactory, StaffFactory, UserFactory

PASSWORD = "an-old-long-password-1"
NEW_PASSWORD = "a-new-long-password-2"

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    user = UserFactory(username="priya")
    user.set_password(PASSWORD)
    user.save()
    return user


def token_for(username: str, password: str) -> str:
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def api_get(token: str, path: str = "/api/plans/") -> int:
    return APIClient(HTTP_AUTHORIZATION=f"Token {token}").get(path).status_code


def test_a_password_change_on_the_site_ends_the_old_token_and_a_new_one_is_issued(user):
    old = token_for("priya", PASSWORD)
    browser = Client()
    browser.force_login(user)
    response = browser.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert api_get(old) == 401
    new = token_for("priya", NEW_PASSWORD)
    assert new != old
    assert api_get(new) == 200


def test_a_password_set_by_staff_in_the_admin_ends_the_users_token(user):
    old = token_for("priya", PASSWORD)
    admin = Client()
    admin.force_login(StaffFactory(is_superuser=True))
    response = admin.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert api_get(old) == 401


def test_a_user_revokes_their_own_token(user):
    token = token_for("priya", PASSWORD)
    response = APIClient(HTTP_AUTHORIZATION=f"Token {token}").delete("/api/auth/token/")
    assert response.status_code == 204
    assert api_get(token) == 401
    assert APIClient().delete("/api/auth/token/").status_code == 401


def test_staff_revoke_a_users_token_in_the_admin(user):
    token = token_for("priya", PASSWORD)
    admin = Client()
    admin.force_login(StaffFactory(is_superuser=True))
    response = admin.post(
        "/admin/auth/user/",
        {"action": "revoke_api_tokens", "index": 0, "_selected_action": [user.pk]},
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert not Token.objects.filter(user=user).exists()
    assert api_get(token) == 401


def test_a_token_expires_after_its_time_and_sign_in_then_issues_a_new_one(user, settings):
    settings.API_TOKEN_TTL = dt.timedelta(hours=1)
    old = token_for("priya", PASSWORD)
    Token.objects.filter(key=old).update(
        created=Token.objects.get(key=old).created - dt.timedelta(hours=2)
    )
    assert api_get(old) == 401
    new = token_for("priya", PASSWORD)
    assert new != old
    assert api_get(new) == 200


def test_the_token_read_loads_the_user_and_their_participant_as_the_orm_would(
    user, django_assert_num_queries
):
    """The compiled token read (clients.tokens.token_with_user) against the ORM's
    select_related: the same rows, values and types, the participant (or its absence) loaded,
    one statement in all; an unknown key reads nothing."""
    participant = InvestorFactory(name="Priya")
    participant.user = user
    participant.save(update_fields=["user"])
    plain = UserFactory(username="ravi")
    for owner, investor in ((user, participant), (plain, None)):
        key = Token.objects.create(user=owner).key
        expected = Token.objects.select_related("user", "user__investor").get(key=key)
        with django_assert_num_queries(1):
            token = token_with_user(key)
            assert token is not None
            assert (token.key, token.created) == (expected.key, expected.created)
            fields = [field.attname for field in type(owner)._meta.concrete_fields]
            assert [getattr(token.user, name) for name in fields] == [
                getattr(expected.user, name) for name in fields
            ]
            if investor is None:
                assert not hasattr(token.user, "investor")
            else:
                assert token.user.investor == investor
                assert token.user.investor.path == investor.path
                assert token.user.investor.user is token.user
        assert token.user._state.db == "default" and not token.user._state.adding
    assert token_with_user("no-such-key") is None
