"""Invitations: a link by email or SMS through the outbox; the investor chooses a username
and password; the link works once, for a limited time."""

import datetime as dt
import json
import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from clients.models import Investor
from reminders.models import Reminder
from tests.factories import StaffFactory


@pytest.fixture
def staff_api(db):
    client = APIClient()
    client.force_authenticate(StaffFactory())
    return client


def invite(client, investor, channel="email"):
    return client.post(
        f"/api/investors/{investor.pk}/invitation/",
        json.dumps({"channel": channel}),
        content_type="application/json",
    )


def sent_link(mailoutbox) -> str:
    return re.search(r"https?://[^/\s]+(/me/invitation/\S+/)", mailoutbox[-1].body).group(1)


def test_an_invited_investor_chooses_a_login_once_and_lands_on_their_plans(
    staff_api, structure, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(staff_api, structure.chetan)
    assert response.status_code == 201, response.content
    assert Reminder.objects.get(kind="invitation").status == "sent"
    link = sent_link(mailoutbox)
    browser = Client()
    assert browser.get(link).status_code == 200
    chosen = browser.post(link, {"username": "chetan", "password": "a-long-pass-2026"})
    assert chosen.status_code == 302 and chosen["Location"] == "/me/"
    assert "Chetan Rao" in browser.get("/me/").content.decode()
    chetan = Investor.objects.get(pk=structure.chetan.pk)
    assert chetan.login.username == "chetan" and not chetan.is_participant
    # Used: the link no longer works.
    again = Client().post(link, {"username": "other", "password": "a-long-pass-2026"})
    assert again.status_code == 404


def test_an_invitation_expires(
    staff_api, structure, django_capture_on_commit_callbacks, mailoutbox, time_machine
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(staff_api, structure.chetan)
    link = sent_link(mailoutbox)
    time_machine.shift(dt.timedelta(hours=73))
    assert Client().get(link).status_code == 404


def test_a_weak_password_is_shown_on_the_form_and_the_link_still_works(
    staff_api, structure, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(staff_api, structure.chetan)
    link = sent_link(mailoutbox)
    weak = Client().post(link, {"username": "chetan", "password": "123"})
    assert weak.status_code == 400
    assert Investor.objects.get(pk=structure.chetan.pk).login is None
    assert Client().get(link).status_code == 200


@pytest.mark.parametrize(
    ("who", "channel", "expected"),
    [
        ("participant", "email", 403),
        ("staff", "messenger", 400),  # not an invitation channel
        ("staff", "sms", 400),  # no phone on file
    ],
)
def test_who_may_invite_and_by_which_channel(
    structure, root_client, staff_api, who, channel, expected
):
    if channel == "sms":
        Investor.objects.filter(pk=structure.chetan.pk).update(phone="")
    client = {"participant": root_client, "staff": staff_api}[who]
    assert invite(client, structure.chetan, channel).status_code == expected
    assert not Reminder.objects.filter(kind="invitation").exists()


def test_an_investor_who_can_sign_in_or_was_invited_today_is_a_409(staff_api, structure):
    assert invite(staff_api, structure.chetan).status_code == 201
    assert invite(staff_api, structure.chetan).status_code == 409
    assert invite(staff_api, structure.root).status_code == 409  # a participant signs in
