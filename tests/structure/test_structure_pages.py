"""The Structure page, its CSV export and the investor page with the contact log."""

import csv
import datetime as dt
import io
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from installments.models import Plan
from installments.services import payment_record, plan_hold
from structure.models import ContactLogEntry
from structure.services import contact_log_record
from tests.factories import InvestorFactory, StaffFactory, make_plan, participant


def row_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-investor="(\d+)"', response.content.decode())]


def summary(response) -> dict[str, str]:
    return dict(re.findall(r'data-summary="([^"]+)">([^<]+)<', response.content.decode()))


def text(response) -> str:
    return response.content.decode()


# ---------------------------------------------------------------------------- the list


def test_the_overdue_filter_shows_the_most_urgent_first(root_browser, structure):
    response = root_browser.get("/structure/?overdue=true")
    assert response.status_code == 200
    s = structure
    assert row_ids(response) == [s.chetan.pk, s.bina.pk, s.asha.pk]
    assert "most urgent first" in text(response)


def test_the_summary_counts_the_whole_structure(root_browser, structure):
    response = root_browser.get("/structure/?search=Dev")  # the summary ignores the filters
    assert summary(response) == {
        "clients": "6",
        "overdue-clients": "3",
        "overdue-money": "1,200.00 USD",
        "last-days": "2",
    }


def test_a_row_shows_level_contacts_plans_money_dates_days_left_and_status(root_browser, structure):
    body = text(root_browser.get("/structure/?search=Chetan"))
    assert "Chetan Rao" in body
    assert "level 1" in body
    assert "600.00 USD" in body
    assert "Feb. 1, 2026" in body  # oldest overdue due date
    assert "Feb. 20, 2026" in body  # grace deadline
    assert "deadline passed 23 days ago" in body
    assert "past the deadline" in body
    assert "(active)" in body  # the plan and its status


def test_every_row_has_click_to_contact_links_with_a_ready_message(root_browser, structure):
    body = text(root_browser.get("/structure/?search=Asha"))
    assert 'href="tel:+919800000001"' in body
    assert 'href="mailto:asha@example.com?body=' in body
    whatsapp = re.search(r'href="(https://wa.me/[^"]+)"', body).group(1)
    assert whatsapp.startswith("https://wa.me/919800000001?text=")
    body = text(root_browser.get("/structure/?search=Bina"))
    assert 'href="https://t.me/bina_shah"' in body
    message = unquote(re.search(r'href="sms:\+919800000002\?body=([^"]+)"', body).group(1))
    assert "300.00 USD" in message
    assert "March 16, 2026" in message
    # What is at stake, without a fraction: the final-payment fraction is each package's own.
    assert "the shares not yet credited to it never will be" in message
    assert "Root Participant" in message


def test_pagination_keeps_the_filters(root_browser, structure):
    for number in range(12):
        investor = InvestorFactory(name=f"Client {number:02d}", sponsor=structure.root)
        make_plan(investor=investor, first_due_date=dt.date(2026, 3, 1), today=dt.date(2026, 2, 1))
    response = root_browser.get("/structure/?overdue=true&level_lte=1&page_size=10")
    assert len(row_ids(response)) == 10
    next_link = re.search(r'href="([^"]+)" rel="next"', text(response)).group(1)
    query = parse_qs(urlsplit(next_link.replace("&amp;", "&")).query)
    assert query == {
        "overdue": ["true"],
        "level_lte": ["1"],
        "page_size": ["10"],
        "page": ["2"],
    }
    second = root_browser.get("/structure/" + next_link.replace("&amp;", "&"))
    assert len(row_ids(second)) == 4  # 12 clients + Chetan + Asha, level 1, overdue


def test_no_overdue_client_is_an_empty_state_that_says_what_to_do(root_browser, structure):
    response = root_browser.get("/structure/?overdue=true&level_lte=1&search=Esha")
    assert response.status_code == 200
    assert row_ids(response) == []
    assert "Nobody here has an overdue payment." in text(response)
    assert "Clear filters" in text(response)


def test_an_empty_structure_says_how_clients_arrive(client, db, today):
    newcomer = participant("newcomer", name="New Participant")
    client.force_login(newcomer.user)
    response = client.get("/structure/")
    assert "Your structure has no clients yet." in text(response)


def test_a_bad_filter_is_a_form_error_on_the_page_not_a_500(root_browser, structure):
    response = root_browser.get("/structure/?overdue=perhaps&days_left_lte=soon")
    assert response.status_code == 400
    body = text(response)
    assert "Use true or false." in body
    assert "Enter a whole number." in body
    assert "Some filters are not valid" in body
    assert row_ids(response) == []


@pytest.mark.parametrize(
    ("query", "folded"),
    [
        ("", True),
        ("overdue=true", True),
        ("asked_for_help=maybe", False),
        ("asked_for_help=true", False),
        ("segment=nobody", False),
        ("ordering=name", False),
        ("ordering=urgency", True),
    ],
)
def test_more_filters_unfold_when_one_of_them_is_set_or_wrong(
    root_browser, structure, query, folded
):
    html = root_browser.get(f"/structure/?{query}").content.decode()
    details = re.search(r'<details class="wide more"( open)?>', html)
    assert details and (details.group(1) is None) == folded


def test_the_latest_contact_shows_on_the_row(root_browser, structure, today):
    contact_log_record(
        investor=structure.asha,
        author=structure.root.user,
        outcome="promised",
        promised_on=dt.date(2026, 3, 12),
        promised_amount="300.00",
        today=dt.date(2026, 3, 10),
    )
    response = root_browser.get("/structure/?overdue=true")
    assert row_ids(response)[0] == structure.asha.pk  # a broken promise is back on top
    assert "promised to pay" in text(response)
    assert "promise broken" in text(response)


def test_staff_pick_a_participant_to_see_their_structure(client, structure):
    client.force_login(StaffFactory())
    first = client.get("/structure/")
    assert first.status_code == 200
    assert "Choose a participant above" in text(first)
    assert 'name="participant"' in text(first)
    assert "errorlist" not in text(first)  # nothing was asked yet: no error to show
    chosen = client.get(f"/structure/?participant={structure.root.pk}&overdue=true")
    assert row_ids(chosen) == [structure.chetan.pk, structure.bina.pk, structure.asha.pk]
    assert f"/structure/investors/{structure.bina.pk}/?participant={structure.root.pk}" in text(
        chosen
    )


def test_a_page_of_100_costs_the_same_queries_as_a_page_of_10(client, structure):
    for number in range(25):
        investor = InvestorFactory(name=f"Client {number:02d}", sponsor=structure.root)
        make_plan(investor=investor, first_due_date=dt.date(2026, 3, 1), today=dt.date(2026, 2, 1))
    counts = []
    for size in (10, 100):
        browser = Client()
        browser.force_login(get_user_model().objects.get(pk=structure.root.user_id))
        # A statement runs through the ORM the first time, is prepared the second (PostgreSQL:
        # one more query, once per connection), then only executed: the counts compared are
        # of the steady state, whichever test ran before on the same connection.
        for _ in range(2):
            browser.get(f"/structure/?page_size={size}")
        with CaptureQueriesContext(connection) as queries:
            response = browser.get(f"/structure/?page_size={size}")
        assert len(row_ids(response)) == min(size, 31)
        counts.append(len(queries))
    assert counts[0] == counts[1]


# ---------------------------------------------------------------------------- CSV


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    content = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(content)))


def test_the_csv_is_exactly_the_filtered_list_in_the_same_order(
    root_browser, root_client, structure
):
    query = "overdue=true&level_lte=2&ordering=-overdue_amount"
    rows = csv_rows(root_browser.get(f"/structure/export.csv?{query}"))
    api = root_client.get(f"/api/structure/?{query}").json()["results"]
    assert [int(row["id"]) for row in rows] == [row["id"] for row in api]
    first = rows[0]
    assert first["name"] == "Chetan Rao"
    assert first["overdue"] == "true"
    assert first["overdue_amount"] == "600.00"
    assert first["oldest_overdue_due_date"] == "2026-02-01"
    assert first["grace_deadline"] == "2026-02-20"
    assert first["days_left"] == "-23"
    assert first["status"] == "past_deadline"


def test_the_csv_has_every_page_not_just_the_first(root_browser, structure):
    rows = csv_rows(root_browser.get("/structure/export.csv?page_size=10&page=1"))
    assert len(rows) == 6


def test_the_csv_refuses_a_bad_filter_with_a_400(root_browser, structure):
    response = root_browser.get("/structure/export.csv?level_lte=zero")
    assert response.status_code == 400
    assert "level_lte" in response.content.decode()


def test_a_name_that_looks_like_a_formula_is_kept_inert_in_the_csv(root_browser, structure):
    InvestorFactory(name="=HYPERLINK(1)", sponsor=structure.root)
    rows = csv_rows(root_browser.get("/structure/export.csv?search=HYPERLINK"))
    assert rows[0]["name"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    "payload", ['=HYPERLINK("http://x")', "+CMD|' /C calc'!A0", "@SUM(1)", "-1+1", "\t=1+1"]
)
def test_contact_details_that_look_like_a_formula_are_kept_inert_in_the_csv(
    root_browser, structure, payload
):
    investor = InvestorFactory(name="Formula Holder", sponsor=structure.root)
    # Written past the input checks, as data from before them (or an import) would be.
    type(investor).objects.filter(pk=investor.pk).update(
        phone=payload, email=payload, messenger=payload
    )
    rows = csv_rows(root_browser.get("/structure/export.csv?search=Formula+Holder"))
    assert (rows[0]["phone"], rows[0]["email"], rows[0]["messenger"]) == ("'" + payload,) * 3


# ---------------------------------------------------------------------------- investor page


def test_the_investor_page_has_plans_schedule_payments_ledger_reminders_and_log(
    root_browser, structure, today
):
    plan = Plan.objects.get(investor=structure.chetan)
    payment_record(
        plan=plan,
        amount="300.00",
        received_on=dt.date(2026, 3, 14),
        reference="BANK-1",
        today=today,
    )
    response = root_browser.get(f"/structure/investors/{structure.chetan.pk}/")
    assert response.status_code == 200
    body = text(response)
    assert "Chetan Rao" in body
    assert body.count("<td>10</td>") == 1  # the tenth installment of the schedule
    assert "BANK-1" in body  # the payment
    assert "progressive credit" in body  # the share ledger
    assert "100 of 3000 credited" in body
    assert "Reminders sent" in body and "No reminders yet" in body
    assert "Contact log" in body and "No contact logged yet." in body


def test_the_investor_page_lists_the_reminders_sent_to_that_investor_only(
    root_browser, structure, today
):
    from django.utils import timezone

    from reminders.models import Reminder

    def reminder(investor, kind):
        plan = Plan.objects.filter(investor=investor).first()
        return Reminder.objects.create(
            recipient=investor,
            plan=plan,
            installment=plan.installments.order_by("number").first() if plan else None,
            kind=kind,
            channel="email",
            status="sent",
            queued_on=today,
            scheduled_for=timezone.now(),
            sent_at=timezone.now(),
        )

    reminder(structure.chetan, "overdue")
    reminder(structure.asha, "last-warning")
    body = text(root_browser.get(f"/structure/investors/{structure.chetan.pk}/"))
    section = body[body.index("Reminders sent") :]
    assert "No reminders yet" not in section
    assert "Overdue (D+1) · installment 1" in section  # the cadence step's name
    assert "Last warning" not in section  # Asha's reminder is on Asha's page


def test_the_investor_page_costs_the_same_queries_however_many_plans(
    root_browser, structure, today
):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert root_browser.get(f"/structure/investors/{structure.asha.pk}/").status_code == 200
        return len(queries)

    one_plan = count()
    for _ in range(3):
        make_plan(investor=structure.asha, first_due_date=dt.date(2026, 3, 1), today=today)
    contact_log_record(investor=structure.asha, author=None, outcome="reached", today=today)
    assert count() == one_plan


def test_logging_a_promise_from_the_investor_page(root_browser, structure, today):
    url = f"/structure/investors/{structure.bina.pk}/"
    response = root_browser.post(
        url + "contacts/",
        {
            "outcome": "promised",
            "promised_on": "2026-03-16",
            "promised_amount": "300.00",
            "note": "Pays Monday",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url
    entry = ContactLogEntry.objects.get()
    assert (entry.outcome, str(entry.promised_amount), entry.note) == (
        "promised",
        "300.00",
        "Pays Monday",
    )
    assert entry.author == structure.root.user
    page = text(root_browser.get(url))
    assert "The contact is logged." in page
    assert "promise pending" in page
    assert "Pays Monday" in page


def test_a_promise_without_a_date_is_a_form_error(root_browser, structure, today):
    response = root_browser.post(
        f"/structure/investors/{structure.bina.pk}/contacts/",
        {"outcome": "promised", "promised_amount": "300.00"},
    )
    assert response.status_code == 400
    assert "A promise to pay needs the promised date." in text(response)
    assert not ContactLogEntry.objects.exists()


@pytest.mark.parametrize("amount", ["-1", "abc", "1.234"])
def test_a_bad_promised_amount_is_a_form_error(root_browser, structure, today, amount):
    response = root_browser.post(
        f"/structure/investors/{structure.bina.pk}/contacts/",
        {"outcome": "promised", "promised_on": "2026-03-16", "promised_amount": amount},
    )
    assert response.status_code == 400
    assert 'class="errorlist' in text(response)
    assert not ContactLogEntry.objects.exists()


def test_a_plan_paid_off_during_its_hold_no_longer_reads_on_hold(root_browser, structure, today):
    plan = make_plan(
        investor=structure.esha, first_due_date=today, today=today, installment_count=1
    )
    plan_hold(plan=plan, until=today + dt.timedelta(days=30), reason="Travelling", today=today)
    page = f"/structure/investors/{structure.esha.pk}/"
    assert "On hold until" in text(root_browser.get(page))
    payment_record(
        plan=plan, amount=str(plan.price), received_on=today, reference="OFF", today=today
    )
    assert "On hold until" not in text(root_browser.get(page))


def test_the_csv_writes_the_latest_contact_in_business_time_with_its_offset(
    root_browser, structure, settings
):
    contact_log_record(
        investor=structure.bina,
        author=None,
        outcome="reached",
        today=dt.date(2026, 3, 15),
        at=dt.datetime(2026, 3, 15, 4, 30, tzinfo=dt.UTC),
    )
    rows = {row["name"]: row for row in csv_rows(root_browser.get("/structure/export.csv"))}
    written = dt.datetime.fromisoformat(rows["Bina Shah"]["last_contact_at"])
    assert written == dt.datetime(2026, 3, 15, 4, 30, tzinfo=dt.UTC)
    assert (
        written.utcoffset()
        == dt.datetime(2026, 3, 15, tzinfo=settings.BUSINESS_TIME_ZONE).utcoffset()
    )


def test_a_hold_and_a_help_request_show_on_the_page_in_the_csv_and_in_the_api(
    root_browser, root_client, structure, today
):
    from structure.help import help_request_ask

    plan_hold(
        plan=structure.asha.plans.get(), until=dt.date(2026, 4, 10), reason="travel", today=today
    )
    help_request_ask(investor=structure.bina, plan=structure.bina.plans.get(), today=today)
    api = {row["name"]: row for row in root_client.get("/api/structure/").json()["results"]}
    assert (api["Asha Verma"]["on_hold_until"], api["Asha Verma"]["asked_for_help"]) == (
        "2026-04-10",
        False,
    )
    assert (api["Bina Shah"]["on_hold_until"], api["Bina Shah"]["asked_for_help"]) == (None, True)
    assert all(
        (row["on_hold_until"], row["asked_for_help"]) == (None, False)
        for name, row in api.items()
        if name not in {"Asha Verma", "Bina Shah"}
    )
    rows = {row["name"]: row for row in csv_rows(root_browser.get("/structure/export.csv"))}
    assert (rows["Asha Verma"]["on_hold_until"], rows["Asha Verma"]["asked_for_help"]) == (
        "2026-04-10",
        "false",
    )
    assert (rows["Bina Shah"]["on_hold_until"], rows["Bina Shah"]["asked_for_help"]) == ("", "true")
    page = root_browser.get("/structure/").content.decode()
    held = re.findall(r'<tr data-investor="(\d+)">(?:(?!</tr>).)*data-on-hold', page, re.S)
    assert held == [str(structure.asha.pk)]
    assert "on hold until April 10, 2026" in page
