"""Finding 10: Hindi pages in Hindi, with the right month names and one date format."""

import datetime as dt
import re

import pytest
from django.contrib import admin
from django.utils import translation
from django.utils.formats import date_format

from structure.models import ContactLogEntry

OUR_APPS = {
    "clients",
    "dashboard",
    "installments",
    "investors",
    "operations",
    "reminders",
    "structure",
}


@pytest.mark.parametrize(("month", "name"), [(9, "सितंबर"), (11, "नवंबर"), (12, "दिसंबर")])
def test_hindi_month_names_are_spelt_with_the_anusvara(month, name):
    with translation.override("hi"):
        assert name in date_format(dt.date(2026, month, 30), "DATE_FORMAT")


def test_the_password_rules_read_in_hindi(client, structure):
    client.force_login(structure.root.user)
    body = client.get("/accounts/password/", HTTP_ACCEPT_LANGUAGE="hi").content.decode()
    assert "Your password" not in body
    assert "आपका पासवर्ड" in body


def test_a_refused_promise_reads_in_hindi(client, structure, today):
    client.force_login(structure.root.user)
    response = client.post(
        f"/structure/investors/{structure.bina.pk}/contacts/",
        {"outcome": "promised", "promised_amount": "300.00"},
        HTTP_ACCEPT_LANGUAGE="hi",
    )
    assert response.status_code == 400
    assert "वादे की तारीख़ चाहिए" in response.content.decode()
    assert not ContactLogEntry.objects.exists()


def test_contact_log_times_use_the_rows_date_format_in_hindi(client, structure, today):
    client.force_login(structure.root.user)
    client.post(f"/structure/investors/{structure.bina.pk}/contacts/", {"outcome": "reached"})
    body = client.get(
        f"/structure/investors/{structure.bina.pk}/", HTTP_ACCEPT_LANGUAGE="hi"
    ).content.decode()
    # The day written as everywhere else on the page (the contact's time after it).
    assert "15 मार्च 2026, " in body
    assert "03/15/2026" not in body and "15-03-2026" not in body


def test_the_admin_names_our_apps_and_models_in_hindi():
    with translation.override("hi"):
        for model in admin.site._registry:
            if model._meta.app_label not in OUR_APPS:
                continue
            for name in (
                model._meta.app_config.verbose_name,
                model._meta.verbose_name,
                model._meta.verbose_name_plural,
            ):
                # No English left, and no English plural "s" glued to a Hindi name.
                assert not re.search("[A-Za-z]", str(name)), (model, name)


def test_the_admin_index_reads_in_hindi(client, staff):
    client.force_login(staff)
    body = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="hi").content.decode()
    assert "किस्त योजनाएँ" in body  # Installment plans
    assert "संरचना और संपर्क लॉग" in body  # Structure and contact log
    assert "रिमाइंडर चरण" in body  # Cadence steps
    assert "Installment plans" not in body
