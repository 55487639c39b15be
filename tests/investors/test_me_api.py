"""An investor's own API: the login staff give them, `GET /api/me/`, preferences, and asking
their participant for help (docs/rules.md, Help requests)."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from clients.models import Investor
from installments.services import payment_record
from reminders.models import ChannelOptOut, Reminder
from structure.models import HelpRequest
from tests.factories import PromotionFactory, StaffFactory, make_plan

JSON = "application/json"


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type=JSON)


# ---------------------------------------------------------------------------- the login


def test_staff_give_an_investor_a_login_that_does_not_make_them_a_participant(structure):
    staff = APIClient()
    staff.force_authenticate(StaffFactory())
    url = f"/api/investors/{structure.chetan.pk}/login/"
    response = post(staff, url, {"username": "chetan", "password": "a-long-pass-2026"})
    assert response.status_code == 201, response.content
    chetan = Investor.objects.get(pk=structure.chetan.pk)
    assert chetan.login.get_username() == "chetan"
    assert not chetan.is_participant
    assert not Investor.objects.participants().filter(pk=chetan.pk).exists()
    again = post(staff, url, {"username": "chetan2", "password": "a-long-pass-2026"})
    assert again.status_code == 409
    grant = post(
        staff,
        f"/api/investors/{chetan.pk}/grant-login/",
        {"username": "chetan3", "password": "a-long-pass-2026"},
    )
    assert grant.status_code == 409


def test_a_weak_password_is_a_400_on_its_field_and_a_participant_may_not_give_logins(
    structure, root_client
):
    staff = APIClient()
    staff.force_authenticate(StaffFactory())
    url = f"/api/investors/{structure.chetan.pk}/login/"
    response = post(staff, url, {"username": "chetan", "password": "123"})
    assert response.status_code == 400
    assert "password" in response.json()
    refused = post(root_client, url, {"username": "chetan", "password": "a-long-pass-2026"})
    assert refused.status_code == 403
    assert Investor.objects.get(pk=structure.chetan.pk).login is None


# ---------------------------------------------------------------------------- me


def test_me_shows_what_is_owed_by_when_and_what_is_at_stake(bina_client, structure, today):
    response = bina_client.get("/api/me/")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["is_participant"]) == ("Bina Shah", False)
    [plan] = body["plans"]
    assert plan["overdue"] is True
    assert plan["overdue_amount"] == "300.00"
    assert plan["grace_deadline"] == "2026-03-16"
    assert plan["days_left"] == 1
    assert plan["shares_credited"] == 0
    assert plan["shares_to_come"] == 3000
    assert plan["shares_lost_if_cancelled"] == 3000
    assert [i["amount"] for i in plan["installments"][:2]] == ["300.00", "300.00"]
    assert plan["help_request"] is None


def test_me_is_a_404_for_staff_without_an_investor_and_a_401_signed_out(db):
    staff = APIClient()
    staff.force_authenticate(StaffFactory())
    assert staff.get("/api/me/").status_code == 404
    assert APIClient().get("/api/me/").status_code == 401


def test_bonuses_within_reach_come_from_the_promotions_in_force(bina_client, structure, today):
    """Dev's plan is on track (first due 2026-04-01): on time so far, and early repayment or
    two installments at once would earn a bonus, each as much as its promotion says."""
    PromotionFactory(kind="on_time", percentage=Decimal("5"))
    PromotionFactory(kind="double_payment", percentage=Decimal("2"))
    PromotionFactory(kind="early_repayment", percentage=Decimal("3"), ends_on=today)
    PromotionFactory(kind="early_repayment", percentage=Decimal("9"), ends_on=dt.date(2026, 1, 1))
    dev = Investor.objects.get(pk=structure.dev.pk)
    client = APIClient()
    from tests.factories import UserFactory

    dev.login = UserFactory(username="dev")
    dev.save(update_fields=["login"])
    client.force_authenticate(dev.login)
    bonuses = {b["kind"]: b for b in client.get("/api/me/").json()["bonuses_within_reach"]}
    assert bonuses["on_time"]["shares"] == 150
    assert bonuses["on_time"]["amount"] is None
    assert (bonuses["double_payment"]["shares"], bonuses["double_payment"]["amount"]) == (
        60,
        "600.00",
    )
    assert (bonuses["early_repayment"]["shares"], bonuses["early_repayment"]["amount"]) == (
        90,
        "3000.00",
    )
    # Bina is a day late: the on-time bonus is out of reach; paying two whole is not.
    bina = {b["kind"] for b in bina_client.get("/api/me/").json()["bonuses_within_reach"]}
    assert bina == {"double_payment", "early_repayment"}


def test_a_partly_paid_installment_does_not_count_as_whole_for_the_double_payment(structure, today):
    plan = make_plan(investor=structure.esha, first_due_date=dt.date(2026, 4, 1), today=today)
    payment_record(
        plan=plan, amount=Decimal("100.00"), received_on=today, reference="part", today=today
    )
    from installments import rules

    states = [
        rules.InstallmentState(i.due_date, i.amount, i.paid_amount, i.paid_on)
        for i in plan.installments.order_by("number")
    ]
    # 200.00 left on the first, then two whole 300.00.
    assert rules.double_payment_bonus_amount(states) == Decimal("800.00")


# ---------------------------------------------------------------------------- preferences


def test_preferences_change_language_channels_and_time_zone(bina_client, structure):
    body = {"language": "hi", "opted_out_channels": ["sms"], "time_zone": "Asia/Kathmandu"}
    response = bina_client.patch("/api/me/preferences/", json.dumps(body), content_type=JSON)
    assert response.status_code == 200
    bina = Investor.objects.get(pk=structure.bina.pk)
    assert (bina.language, bina.time_zone) == ("hi", "Asia/Kathmandu")
    assert list(ChannelOptOut.objects.filter(investor=bina).values_list("channel", flat=True)) == [
        "sms"
    ]
    assert response.json()["opted_out_channels"] == ["sms"]
    back = bina_client.patch(
        "/api/me/preferences/", json.dumps({"opted_out_channels": []}), content_type=JSON
    )
    assert back.json()["opted_out_channels"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"opted_out_channels": ["pigeon"]}, "opted_out_channels"),
        ({"language": "xx"}, "language"),
    ],
)
def test_a_bad_preference_is_a_400_on_its_field_and_changes_nothing(
    bina_client, structure, body, field
):
    response = bina_client.patch("/api/me/preferences/", json.dumps(body), content_type=JSON)
    assert response.status_code == 400
    assert field in response.json()
    bina = Investor.objects.get(pk=structure.bina.pk)
    assert (bina.language, bina.time_zone) == ("en", "")


# ---------------------------------------------------------------------------- help


def _plan_of(investor):
    return investor.plans.get()


def test_asking_for_help_twice_adds_to_one_request_and_tells_the_participant_once(
    bina_client, structure, django_capture_on_commit_callbacks
):
    plan = _plan_of(structure.bina)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(
            bina_client,
            "/api/me/help-requests/",
            {"plan": plan.pk, "message": "Salary comes late", "contact_via": "after 6 pm"},
        )
    assert first.status_code == 201, first.content
    with django_capture_on_commit_callbacks(execute=True):
        second = post(bina_client, "/api/me/help-requests/", {"plan": plan.pk, "message": "Hi?"})
    assert second.status_code == 200
    assert second.json()["times_asked"] == 2
    assert second.json()["message"] == "Salary comes late\nHi?"
    assert HelpRequest.objects.count() == 1
    notices = Reminder.objects.filter(kind="help-request")
    assert sorted(notices.values_list("recipient_id", "channel")) == [
        (structure.root.pk, "email"),
        (structure.root.pk, "sms"),
    ]


def test_the_participant_is_told_once_through_the_outbox_in_their_language(
    bina_client, structure, django_capture_on_commit_callbacks, mailoutbox
):
    Investor.objects.filter(pk=structure.root.pk).update(email="root@example.com", language="hi")
    plan = _plan_of(structure.bina)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            post(bina_client, "/api/me/help-requests/", {"plan": plan.pk, "message": "Help"})
    notices = Reminder.objects.filter(kind="help-request", recipient=structure.root)
    assert sorted(notices.values_list("channel", "status")) == [("email", "sent"), ("sms", "sent")]
    [mail] = mailoutbox
    assert mail.to == ["root@example.com"]
    assert "Bina Shah" in mail.subject and "मदद" in mail.subject


def test_someone_elses_plan_is_a_400_and_nothing_is_written(bina_client, structure):
    other = _plan_of(structure.asha)
    response = post(bina_client, "/api/me/help-requests/", {"plan": other.pk})
    assert response.status_code == 400
    assert "plan" in response.json()
    assert not HelpRequest.objects.exists()


def test_the_participant_lists_and_answers_and_the_investor_sees_the_answer(
    bina_client, root_client, structure
):
    plan = _plan_of(structure.bina)
    asked = post(bina_client, "/api/me/help-requests/", {"plan": plan.pk}).json()
    listed = root_client.get("/api/help-requests/").json()
    assert [r["id"] for r in listed["results"]] == [asked["id"]]
    other = APIClient()
    other.force_authenticate(structure.other_root.user)
    assert other.get("/api/help-requests/").json()["count"] == 0
    assert other.post(f"/api/help-requests/{asked['id']}/answer/").status_code == 404
    assert bina_client.post(f"/api/help-requests/{asked['id']}/answer/").status_code == 404
    answered = root_client.post(f"/api/help-requests/{asked['id']}/answer/")
    assert answered.status_code == 200
    assert answered.json()["answered_by"] == "participant"
    assert root_client.post(f"/api/help-requests/{asked['id']}/answer/").status_code == 409
    assert root_client.get("/api/help-requests/").json()["count"] == 0
    seen = bina_client.get("/api/me/").json()["plans"][0]["help_request"]
    assert seen["answered_at"] is not None
    request = HelpRequest.objects.get()
    assert request.time_to_answer == request.answered_at - request.asked_at
    # Answered, a new press opens a new request.
    again = post(bina_client, "/api/me/help-requests/", {"plan": plan.pk})
    assert again.status_code == 201
    assert HelpRequest.objects.count() == 2


def test_the_client_who_asked_for_help_comes_first_and_the_filter_finds_them(
    bina_client, root_client, structure
):
    """Dev is on track (urgency 3 without the request); asking puts him above Chetan."""
    from tests.factories import UserFactory

    dev = Investor.objects.get(pk=structure.dev.pk)
    dev.login = UserFactory(username="dev")
    dev.save(update_fields=["login"])
    client = APIClient()
    client.force_authenticate(dev.login)
    post(client, "/api/me/help-requests/", {"plan": _plan_of(dev).pk})
    names = [r["name"] for r in root_client.get("/api/structure/").json()["results"]]
    assert names[:2] == ["Dev Kumar", "Chetan Rao"]
    asked = root_client.get("/api/structure/?asked_for_help=true").json()["results"]
    assert [r["name"] for r in asked] == ["Dev Kumar"]
    assert root_client.get("/api/structure/?asked_for_help=maybe").status_code == 400
