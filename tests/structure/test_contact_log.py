"""The contact log: outcomes, promises to pay judged from the payments, and its API."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from backoffice.lib.errors import DomainError
from installments.models import Plan
from installments.services import payment_record
from structure.models import ContactLogEntry, PromiseState
from structure.services import contact_log_record

D = dt.date
LOGGED = D(2026, 3, 10)


def promise(structure, investor, *, on, amount="300.00", logged=LOGGED):
    return contact_log_record(
        investor=investor,
        author=structure.root.user,
        outcome="promised",
        promised_on=on,
        promised_amount=amount,
        today=logged,
    )


def state(entry, today):
    return ContactLogEntry.objects.with_promise_state(today).get(pk=entry.pk).promise_state


def pay(investor, amount, received_on, reference):
    plan = Plan.objects.get(investor=investor)
    payment_record(
        plan=plan, amount=amount, received_on=received_on, reference=reference, today=received_on
    )


# ---------------------------------------------------------------------------- the service


def test_a_contact_is_logged_with_its_outcome_note_author_and_business_day(structure):
    entry = contact_log_record(
        investor=structure.bina,
        author=structure.root.user,
        outcome="no_answer",
        note="  Rang twice.  ",
        today=D(2026, 3, 15),
    )
    assert (entry.outcome, entry.note, entry.contacted_on) == (
        "no_answer",
        "Rang twice.",
        D(2026, 3, 15),
    )
    assert entry.author == structure.root.user
    assert entry.promised_on is None and entry.promised_amount is None


def test_only_a_promise_keeps_a_date_and_an_amount(structure):
    entry = contact_log_record(
        investor=structure.bina,
        author=None,
        outcome="reached",
        promised_on=D(2026, 3, 20),
        promised_amount="10.00",
        today=D(2026, 3, 15),
    )
    assert entry.promised_on is None and entry.promised_amount is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"promised_on": None}, "promised_on"),
        ({"promised_on": D(2026, 3, 14)}, "promised_on"),
        ({"promised_amount": None}, "promised_amount"),
        ({"promised_amount": "0"}, "promised_amount"),
        ({"promised_amount": "-5"}, "promised_amount"),
        ({"promised_amount": "1.234"}, "promised_amount"),
        ({"promised_amount": "lots"}, "promised_amount"),
        ({"promised_amount": "1e999"}, "promised_amount"),
        ({"outcome": "ghosted"}, "outcome"),
    ],
)
def test_a_bad_promise_is_refused_on_its_field_and_logs_nothing(structure, changes, field):
    arguments = {
        "investor": structure.bina,
        "author": None,
        "outcome": "promised",
        "promised_on": D(2026, 3, 20),
        "promised_amount": "300.00",
        "today": D(2026, 3, 15),
        **changes,
    }
    with pytest.raises(DomainError) as refused:
        contact_log_record(**arguments)
    assert refused.value.field == field
    assert not ContactLogEntry.objects.exists()


# ---------------------------------------------------------------------------- promises


def test_a_promise_is_pending_until_its_date(structure):
    entry = promise(structure, structure.asha, on=D(2026, 3, 12))
    assert state(entry, D(2026, 3, 10)) == PromiseState.PENDING
    assert state(entry, D(2026, 3, 12)) == PromiseState.PENDING


def test_a_promise_is_broken_the_day_after_its_date_without_the_money(structure):
    entry = promise(structure, structure.asha, on=D(2026, 3, 12))
    assert state(entry, D(2026, 3, 13)) == PromiseState.BROKEN


def test_a_promise_is_kept_when_the_money_arrives_by_its_date(structure):
    entry = promise(structure, structure.asha, on=D(2026, 3, 12), amount="300.00")
    pay(structure.asha, Decimal("100.00"), D(2026, 3, 10), "P-1")
    assert state(entry, D(2026, 3, 11)) == PromiseState.PENDING  # partly paid
    pay(structure.asha, Decimal("200.00"), D(2026, 3, 12), "P-2")
    assert state(entry, D(2026, 3, 15)) == PromiseState.KEPT


def test_money_after_the_promised_date_does_not_keep_the_promise(structure):
    entry = promise(structure, structure.asha, on=D(2026, 3, 12))
    pay(structure.asha, Decimal("300.00"), D(2026, 3, 13), "P-late")
    assert state(entry, D(2026, 3, 15)) == PromiseState.BROKEN


def test_money_before_the_contact_does_not_count_toward_the_promise(structure):
    pay(structure.chetan, Decimal("300.00"), D(2026, 3, 9), "P-before")
    entry = promise(structure, structure.chetan, on=D(2026, 3, 12), amount="300.00")
    assert state(entry, D(2026, 3, 15)) == PromiseState.BROKEN


def test_a_payment_recorded_late_for_a_date_in_the_window_keeps_the_promise_after_the_fact(
    structure,
):
    entry = promise(structure, structure.asha, on=D(2026, 3, 12))
    assert state(entry, D(2026, 3, 15)) == PromiseState.BROKEN
    pay(structure.asha, Decimal("300.00"), D(2026, 3, 11), "P-backdated")
    assert state(entry, D(2026, 3, 15)) == PromiseState.KEPT


# ---------------------------------------------------------------------------- the API


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def test_a_participant_logs_a_promise_through_the_api(root_client, structure, today):
    url = f"/api/investors/{structure.bina.pk}/contacts/"
    response = post(
        root_client,
        url,
        {
            "outcome": "promised",
            "promised_on": "2026-03-16",
            "promised_amount": "300.00",
            "note": "Will pay Monday.",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["outcome"] == "promised"
    assert body["promised_on"] == "2026-03-16"
    assert body["promised_amount"] == "300.00"
    assert body["promise_state"] == "pending"
    assert body["paid_toward_promise"] == "0.00"
    assert body["contacted_on"] == "2026-03-15"
    assert body["author"] == "participant"
    listed = root_client.get(url).json()
    assert listed["count"] == 1
    assert listed["results"][0]["id"] == body["id"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"outcome": "promised", "promised_amount": "300.00"}, "promised_on"),
        ({"outcome": "promised", "promised_on": "2026-03-16"}, "promised_amount"),
        ({"outcome": "promised", "promised_on": "soon", "promised_amount": "1"}, "promised_on"),
        (
            {"outcome": "promised", "promised_on": "2026-03-16", "promised_amount": 1.5},
            "promised_amount",
        ),
        ({"outcome": "maybe"}, "outcome"),
        ({}, "outcome"),
        ({"outcome": "reached", "promised_on": "2026-03-16"}, "promised_on"),
        ({"outcome": "no_answer", "promised_amount": "5.00"}, "promised_amount"),
    ],
)
def test_a_bad_contact_is_a_400_on_its_field(root_client, structure, today, data, field):
    response = post(root_client, f"/api/investors/{structure.bina.pk}/contacts/", data)
    assert response.status_code == 400
    assert field in response.json()
    assert not ContactLogEntry.objects.exists()


def test_the_log_lists_newest_first_with_the_promise_state(root_client, structure, today):
    promise(structure, structure.asha, on=D(2026, 3, 12), logged=D(2026, 3, 10))
    contact_log_record(
        investor=structure.asha, author=None, outcome="no_answer", today=D(2026, 3, 15)
    )
    results = root_client.get(f"/api/investors/{structure.asha.pk}/contacts/").json()["results"]
    assert [(r["outcome"], r["promise_state"]) for r in results] == [
        ("no_answer", None),
        ("promised", "broken"),
    ]


# ---------------------------------------------------------------------------- finding 7


@pytest.mark.parametrize(
    ("promised_on", "promised_amount", "field"),
    [
        ("9999-12-31", "100.00", "promised_on"),  # far past the grace deadline
        ("2026-03-17", "100.00", "promised_on"),  # Bina's deadline is 2026-03-16
        ("2026-03-16", "99999999.00", "promised_amount"),  # Bina owes 3,000.00 in all
        ("2026-03-16", "1E2", "promised_amount"),
    ],
)
def test_a_promise_the_plan_cannot_wait_for_is_a_400_naming_the_field(
    root_client, structure, today, promised_on, promised_amount, field
):
    response = root_client.post(
        f"/api/investors/{structure.bina.pk}/contacts/",
        {"outcome": "promised", "promised_on": promised_on, "promised_amount": promised_amount},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert not ContactLogEntry.objects.exists()


def test_a_promise_on_the_grace_deadline_of_what_is_owed_is_logged(root_client, structure, today):
    response = root_client.post(
        f"/api/investors/{structure.bina.pk}/contacts/",
        {"outcome": "promised", "promised_on": "2026-03-16", "promised_amount": "3000.00"},
        format="json",
    )
    assert response.status_code == 201, response.json()


def test_a_promise_of_more_than_is_owed_names_what_is_owed_in_cents(root_client, structure, today):
    response = root_client.post(
        f"/api/investors/{structure.bina.pk}/contacts/",
        {"outcome": "promised", "promised_on": "2026-03-16", "promised_amount": "3000.01"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "promised_amount": ["The promised amount is more than the 3000.00 the investor still owes."]
    }
