"""The investor's own pages: My plans, the help button, preferences, and the admin's
investor login."""

import pytest
from django.test import Client

from clients.models import Investor
from investors.models import PaymentInstructions
from reminders.models import ChannelOptOut
from structure.models import HelpRequest
from tests.factories import StaffFactory


@pytest.fixture
def bina_page(bina_user):
    client = Client()
    client.force_login(bina_user)
    return client


def test_my_plans_says_what_is_owed_by_when_and_what_is_lost_after(bina_page, structure):
    PaymentInstructions.objects.create(language="en", text="Pay to account 123, PLAN reference.")
    body = bina_page.get("/me/").content.decode()
    assert "300.00" in body
    assert "16 March 2026" in body or "March 16, 2026" in body
    assert "1 day left" in body
    assert "the plan is cancelled" in body and "3000 shares not yet credited" in body
    assert "(100% of the package)" in body  # nothing credited yet: all of it is at stake
    assert "Pay to account 123" in body
    assert "Ask my participant for help" in body


def test_my_plans_in_hindi_reads_the_hindi_payment_text(bina_page, structure):
    PaymentInstructions.objects.create(language="en", text="English text")
    PaymentInstructions.objects.create(language="hi", text="हिन्दी पाठ")
    Investor.objects.filter(pk=structure.bina.pk).update(language="hi")
    body = bina_page.get("/me/", HTTP_ACCEPT_LANGUAGE="hi").content.decode()
    assert "हिन्दी पाठ" in body and "मेरी योजनाएँ" in body


def test_the_help_button_asks_and_the_page_says_it_was_received(bina_page, structure):
    plan = structure.bina.plans.get()
    response = bina_page.post(
        f"/me/plans/{plan.pk}/help/", {"message": "Call me", "contact_via": "evenings"}
    )
    assert response.status_code == 302
    assert HelpRequest.objects.get().contact_via == "evenings"
    assert 'data-help-state="received"' in bina_page.get("/me/").content.decode()


def test_a_too_long_message_is_a_400_on_the_form_not_a_500(bina_page, structure):
    plan = structure.bina.plans.get()
    response = bina_page.post(f"/me/plans/{plan.pk}/help/", {"message": "x" * 1001})
    assert response.status_code == 400
    assert "at most 1000 characters" in response.content.decode()
    assert not HelpRequest.objects.exists()


def test_preferences_are_saved_and_a_bad_time_zone_is_shown_on_the_form(bina_page, structure):
    bad = bina_page.post("/me/preferences/", {"language": "hi", "time_zone": "Nowhere/Land"})
    assert bad.status_code == 400
    assert Investor.objects.get(pk=structure.bina.pk).language == "en"
    good = bina_page.post(
        "/me/preferences/",
        {"language": "hi", "time_zone": "Asia/Kathmandu", "opted_out_channels": ["sms", "email"]},
    )
    assert good.status_code == 302
    bina = Investor.objects.get(pk=structure.bina.pk)
    assert (bina.language, bina.time_zone) == ("hi", "Asia/Kathmandu")
    assert set(ChannelOptOut.objects.filter(investor=bina).values_list("channel", flat=True)) == {
        "sms",
        "email",
    }


def test_the_admin_gives_an_investor_login_without_making_a_participant(structure):
    admin = Client()
    admin.force_login(StaffFactory(is_superuser=True))
    url = f"/admin/clients/investor/{structure.chetan.pk}/investor-login/"
    assert admin.get(url).status_code == 200
    change = admin.get(f"/admin/clients/investor/{structure.chetan.pk}/change/").content.decode()
    assert "investor-login/" in change
    response = admin.post(url, {"username": "chetan", "password": "a-long-pass-2026"})
    assert response.status_code == 302, response.content.decode()[:2000]
    chetan = Investor.objects.get(pk=structure.chetan.pk)
    assert chetan.login.username == "chetan" and not chetan.is_participant


def test_a_plan_past_its_deadline_says_the_last_day_has_passed(bina_page, structure, time_machine):
    import datetime as dt

    # Bina's first installment fell due on 2026-02-25: the grace deadline is 2026-03-16. Two
    # days after it, before the nightly scan cancels the plan:
    time_machine.move_to(dt.datetime(2026, 3, 18, 12, tzinfo=dt.UTC))
    body = bina_page.get("/me/").content.decode()
    assert "has passed: the nightly scan cancels the plan" in body
    assert "If it is not paid by" not in body
    assert "Overdue payment" in body and "Next payment" not in body
    assert "was due Feb. 25, 2026" in body


def test_an_investor_reading_in_hindi_gets_the_errors_in_hindi(bina_page, structure):
    bad = bina_page.post(
        "/me/preferences/",
        {"language": "hi", "time_zone": "Nowhere/Land"},
        HTTP_ACCEPT_LANGUAGE="hi",
    ).content.decode()
    assert "Nowhere/Land कोई ज्ञात समय क्षेत्र नहीं है" in bad
    assert "is not a known time zone" not in bad


def test_the_participant_told_of_a_help_request_gets_no_empty_email_line(
    bina_page, structure, django_capture_on_commit_callbacks
):
    from django.core import mail

    Investor.objects.filter(pk=structure.bina.pk).update(email="")
    plan = structure.bina.plans.get()
    with django_capture_on_commit_callbacks(execute=True):
        bina_page.post(f"/me/plans/{plan.pk}/help/", {"message": "Call me"})
    (message,) = [m for m in mail.outbox if "asked for your help" in m.body]
    assert "Phone: +919800000002" in message.body
    assert "Email" not in message.body
