"""Finding 7's contact details: phones in E.164 (phonenumbers), no injected mailto headers, no
"tel:+", names isolated against right-to-left spoofing; and the migration of existing phones."""

import importlib
from urllib.parse import urlsplit

import pytest
from django.apps import apps

from clients.models import Investor
from structure.contact import contact_links
from tests.factories import InvestorFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_api(client):
    client.force_login(StaffFactory())
    return client


def post_investor(client, **fields):
    return client.post(
        "/api/investors/", {"name": "Asha Verma", **fields}, content_type="application/json"
    )


def test_a_phone_is_stored_in_e164_whatever_way_it_was_written(staff_api):
    response = post_investor(staff_api, phone="098123 45678", messenger="+91 (98123) 45-679")
    assert response.status_code == 201, response.json()
    investor = Investor.objects.get()
    assert (investor.phone, investor.messenger) == ("+919812345678", "+919812345679")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "call me after 6"),
        ("phone", "+"),
        ("phone", "+91 123"),
        ("phone", '=HYPERLINK("http://x")'),
        ("messenger", "@abc"),
        ("messenger", "not a handle"),
    ],
)
def test_a_bad_phone_or_messenger_is_a_400_naming_the_field(staff_api, field, value):
    response = post_investor(staff_api, **{field: value})
    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert not Investor.objects.exists()


def test_a_bad_phone_is_a_form_error_in_the_admin(admin_client):
    investor = InvestorFactory()
    response = admin_client.post(
        f"/admin/clients/investor/{investor.pk}/change/",
        {
            "name": investor.name,
            "phone": "call me",
            "language": "en",
            "plans-TOTAL_FORMS": "0",
            "plans-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "is not a phone number" in response.content.decode()


def test_an_email_cannot_inject_a_bcc_into_the_mailto_link():
    links = contact_links(
        phone="", email="a?bcc=evil%40evil.example@example.com", messenger="", message="Hi"
    )
    parts = urlsplit(links.mailto)
    assert parts.query == "body=Hi"
    assert "bcc" not in parts.query.lower()
    assert parts.path == "a%3Fbcc%3Devil%2540evil.example@example.com"


@pytest.mark.parametrize("phone", ["call me", "+", "n/a"])
def test_a_phone_that_is_not_a_number_gives_no_call_link_rather_than_tel_plus(phone):
    links = contact_links(phone=phone, email="", messenger="", message="Hi")
    assert (links.tel, links.sms) == ("", "")


def test_names_are_isolated_against_right_to_left_spoofing(client, db):
    from tests.factories import participant

    root = participant("rtl", name="Root")
    InvestorFactory(name="evil\u202egnp.exe", sponsor=root)
    client.force_login(root.user)
    body = client.get("/structure/").content.decode()
    assert "<bdi>evil\u202egnp.exe</bdi>" in body


def test_the_migration_writes_existing_phones_in_e164_and_reports_the_rest(capsys):
    good, bad = InvestorFactory(), InvestorFactory()
    Investor.objects.filter(pk=good.pk).update(phone="+91 98123 45678", messenger="")
    Investor.objects.filter(pk=bad.pk).update(phone="ask Ravi", messenger="")
    migration = importlib.import_module("clients.migrations.0006_investor_phone_e164")
    migration.to_e164(apps, None)
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.phone == "+919812345678"
    assert bad.phone == "ask Ravi"
    assert f"investor #{bad.pk} phone: 'ask Ravi'" in capsys.readouterr().out
