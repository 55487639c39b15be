"""English and Hindi for the participant interface; messages in the client's own language."""

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import unquote

from django.utils import translation

from structure.contact import contact_message, format_money


def hindi(client):
    response = client.post("/i18n/setlang/", {"language": "hi", "next": "/structure/"})
    assert response.status_code == 302
    return response


def test_the_language_switcher_turns_the_structure_into_hindi(root_browser, structure):
    english = root_browser.get("/structure/?overdue=true").content.decode()
    assert "Overdue payments" in english
    assert 'action="/i18n/setlang/"' in english
    hindi(root_browser)
    body = root_browser.get("/structure/?overdue=true").content.decode()
    assert '<html lang="hi">' in body
    assert "बकाया भुगतान" in body  # Overdue payments
    assert "सबसे ज़रूरी पहले" in body  # most urgent first
    assert "समय-सीमा 23 दिन पहले बीत गई" in body  # deadline passed 23 days ago
    assert "Overdue payments" not in body


def test_dates_and_money_follow_the_language(root_browser, structure):
    hindi(root_browser)
    body = root_browser.get("/structure/?search=Chetan").content.decode()
    assert "1 फ़रवरी 2026" in body  # oldest overdue due date, Hindi month name
    assert "600.00 USD" in body


def test_hindi_groups_money_the_indian_way():
    with translation.override("hi"):
        assert format_money(Decimal("1234567.50"), "INR") == "12,34,567.50 INR"
    with translation.override("en"):
        assert format_money(Decimal("1234567.50"), "USD") == "1,234,567.50 USD"


def test_the_investor_page_and_contact_form_speak_hindi(root_browser, structure):
    hindi(root_browser)
    body = root_browser.get(f"/structure/investors/{structure.bina.pk}/").content.decode()
    assert "संपर्क लॉग" in body  # Contact log
    assert "भुगतान का वादा किया" in body  # promised to pay
    assert "अभी तक कोई रिमाइंडर नहीं" in body  # No reminders yet


def test_the_ready_message_is_in_the_clients_language_not_the_participants(root_browser, structure):
    body = root_browser.get("/structure/?search=Asha").content.decode()  # page in English
    message = unquote(re.search(r'href="https://wa.me/\d+\?text=([^"]+)"', body).group(1))
    assert message.startswith("नमस्ते Asha Verma, मैं Root Participant")
    assert "300.00 USD" in message
    assert "20 मार्च 2026" in message  # the grace deadline, in Hindi


def test_a_nepali_client_gets_the_message_in_nepali():
    message = contact_message(
        name="Sita",
        language="ne",
        participant_name="Priya",
        currency="USD",
        overdue_amount=Decimal("300.00"),
        grace_deadline=dt.date(2026, 3, 20),
        days_left=5,
    )
    assert message.startswith("नमस्ते Sita, म Priya बोल्दैछु।")


def test_each_message_says_what_is_owed_by_when_and_what_is_lost():
    common = {"name": "Ravi", "language": "en", "participant_name": "Priya", "currency": "USD"}
    due = contact_message(
        **common,
        overdue_amount=Decimal("1500.00"),
        grace_deadline=dt.date(2026, 3, 20),
        days_left=5,
    )
    assert "1,500.00 USD" in due and "March 20, 2026" in due and "shares not yet credited" in due
    late = contact_message(
        **common, overdue_amount=Decimal("1.00"), grace_deadline=dt.date(2026, 3, 1), days_left=-2
    )
    assert "grace period ended" in late and "Please pay today" in late
    fine = contact_message(**common, overdue_amount=Decimal(0), grace_deadline=None, days_left=None)
    assert "checking in" in fine and "USD" not in fine
