"""GET /api/structure/ (the API in the README): every filter, ordering and field, and the errors."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from installments.read_model import plans_changing
from structure.models import ContactLogEntry
from structure.services import contact_log_record
from tests.factories import InvestorFactory, StaffFactory, make_plan

URL = "/api/structure/"
CONTRACT_FIELDS = {
    "id",
    "name",
    "level",
    "phone",
    "email",
    "overdue",
    "overdue_amount",
    "oldest_overdue_due_date",
    "grace_deadline",
    "days_left",
}


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"].split()[0] for row in response.json()["results"]]


def get(client, **params):
    return client.get(URL, params)


# ---------------------------------------------------------------------------- fields


def test_an_overdue_row_has_every_spec_field_with_its_exact_type(root_client, structure):
    body = get(root_client, search="Chetan").json()
    assert set(body) == {"count", "next", "previous", "results"}
    (row,) = body["results"]
    assert set(row) >= CONTRACT_FIELDS
    assert {key: row[key] for key in CONTRACT_FIELDS} == {
        "id": structure.chetan.pk,
        "name": "Chetan Rao",
        "level": 1,
        "phone": structure.chetan.phone,
        "email": "chetan@example.org",
        "overdue": True,
        "overdue_amount": "600.00",
        "oldest_overdue_due_date": "2026-02-01",
        "grace_deadline": "2026-02-20",
        "days_left": -23,
    }
    assert row["status"] == "past_deadline"


def test_a_row_with_nothing_overdue_has_nulls_and_zero_money(root_client, structure):
    (row,) = get(root_client, search="Dev").json()["results"]
    assert row["overdue"] is False
    assert row["overdue_amount"] == "0.00"
    assert row["oldest_overdue_due_date"] is None
    assert row["grace_deadline"] is None
    assert row["days_left"] is None
    assert row["level"] == 3
    assert row["status"] == "on_track"
    assert row["last_contact"] is None


def test_the_structure_is_every_level_below_the_participant_and_nobody_else(root_client, structure):
    body = get(root_client, ordering="name").json()
    assert body["count"] == 6
    assert names(get(root_client, ordering="name")) == [
        "Asha",
        "Bina",
        "Chetan",
        "Dev",
        "Esha",
        "Farid",
    ]


# ---------------------------------------------------------------------------- filters


def test_overdue_true_lists_the_overdue_most_urgent_first(root_client, structure):
    assert names(get(root_client, overdue="true")) == ["Chetan", "Bina", "Asha"]


def test_overdue_false_lists_everyone_else(root_client, structure):
    assert names(get(root_client, overdue="false", ordering="name")) == ["Dev", "Esha", "Farid"]


def test_days_left_lte_keeps_the_overdue_with_at_most_that_many_days(root_client, structure):
    assert names(get(root_client, days_left_lte=1)) == ["Chetan", "Bina"]
    assert names(get(root_client, days_left_lte=-1)) == ["Chetan"]
    assert names(get(root_client, days_left_lte=5)) == ["Chetan", "Bina", "Asha"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", ["Asha", "Bina", "Chetan", "Dev"]),
        ("cancelled", ["Farid"]),
        ("completed", []),
    ],
)
def test_plan_status_keeps_clients_with_a_plan_in_that_status(
    root_client, structure, status, expected
):
    assert names(get(root_client, plan_status=status, ordering="name")) == expected


def test_level_lte_keeps_the_clients_down_to_that_level(root_client, structure):
    assert names(get(root_client, level_lte=1, ordering="name")) == ["Asha", "Chetan", "Esha"]
    assert names(get(root_client, level_lte=2, ordering="name")) == [
        "Asha",
        "Bina",
        "Chetan",
        "Esha",
        "Farid",
    ]


@pytest.mark.parametrize(
    ("term", "expected"),
    [("bina", ["Bina"]), ("98000 00001", ["Asha"]), ("EXAMPLE.ORG", ["Chetan"]), ("zzz", [])],
)
def test_search_matches_part_of_a_name_phone_or_email(root_client, structure, term, expected):
    assert names(get(root_client, search=term)) == expected


def test_filters_combine(root_client, structure):
    assert names(get(root_client, overdue="true", level_lte=1)) == ["Chetan", "Asha"]


# ---------------------------------------------------------------------------- ordering


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("days_left", ["Chetan", "Bina", "Asha", "Dev", "Esha", "Farid"]),
        ("-days_left", ["Asha", "Bina", "Chetan", "Dev", "Esha", "Farid"]),
        ("-overdue_amount", ["Chetan", "Asha", "Bina", "Dev", "Esha", "Farid"]),
        ("overdue_amount", ["Dev", "Esha", "Farid", "Asha", "Bina", "Chetan"]),
        ("name", ["Asha", "Bina", "Chetan", "Dev", "Esha", "Farid"]),
        ("-name", ["Farid", "Esha", "Dev", "Chetan", "Bina", "Asha"]),
        ("level", ["Asha", "Chetan", "Esha", "Bina", "Farid", "Dev"]),
        ("-level", ["Dev", "Bina", "Farid", "Asha", "Chetan", "Esha"]),
        ("urgency", ["Chetan", "Bina", "Asha", "Dev", "Esha", "Farid"]),
    ],
)
def test_each_ordering_sorts_the_rows(root_client, structure, ordering, expected):
    assert names(get(root_client, ordering=ordering)) == expected


def test_without_ordering_the_most_urgent_come_first(root_client, structure):
    assert names(get(root_client)) == ["Chetan", "Bina", "Asha", "Dev", "Esha", "Farid"]


def test_a_broken_promise_puts_the_client_back_at_the_top_by_urgency(root_client, structure, today):
    contact_log_record(
        investor=structure.asha,
        author=structure.root.user,
        outcome="promised",
        promised_on=dt.date(2026, 3, 12),
        promised_amount="300.00",
        today=dt.date(2026, 3, 10),
    )
    assert names(get(root_client, overdue="true")) == ["Asha", "Chetan", "Bina"]
    # days_left is days left, whatever was promised.
    assert names(get(root_client, overdue="true", ordering="days_left")) == [
        "Chetan",
        "Bina",
        "Asha",
    ]
    (asha,) = get(root_client, search="Asha").json()["results"]
    assert asha["last_contact"] == {
        "outcome": "promised",
        "at": asha["last_contact"]["at"],
        "promised_on": "2026-03-12",
        "promised_amount": "300.00",
        "promise_state": "broken",
    }


def test_a_pending_promise_due_before_the_deadline_lets_the_client_wait_below_the_others(
    root_client, structure, today
):
    # Recorded before promises were held to the grace deadline (the service now refuses it).
    ContactLogEntry.objects.create(
        investor=structure.chetan,
        author=structure.root.user,
        contacted_at=timezone.now(),
        contacted_on=today,
        outcome="promised",
        promised_on=today,
        promised_amount=Decimal("600.00"),
    )
    # Chetan's deadline has passed: a promise after it saves nothing, so Chetan stays first.
    assert names(get(root_client, overdue="true")) == ["Chetan", "Bina", "Asha"]
    contact_log_record(
        investor=structure.bina,
        author=structure.root.user,
        outcome="promised",
        promised_on=dt.date(2026, 3, 16),
        promised_amount="300.00",
        today=today,
    )
    assert names(get(root_client, overdue="true")) == ["Chetan", "Asha", "Bina"]


# ---------------------------------------------------------------------------- pagination


def test_results_are_paginated_with_next_and_previous(root_client, structure):
    first = get(root_client, ordering="name", page_size=4).json()
    assert first["count"] == 6
    assert [r["name"].split()[0] for r in first["results"]] == ["Asha", "Bina", "Chetan", "Dev"]
    assert first["previous"] is None and "page=2" in first["next"]
    second = root_client.get(first["next"]).json()
    assert [r["name"].split()[0] for r in second["results"]] == ["Esha", "Farid"]
    assert second["next"] is None


def _add_overdue_clients(root, count):
    for number in range(count):
        investor = InvestorFactory(name=f"Client {number:03d}", sponsor=root)
        make_plan(
            investor=investor,
            first_due_date=dt.date(2026, 2, 1) + dt.timedelta(days=number % 28),
            today=dt.date(2026, 1, 1),
        )


def test_a_page_of_100_costs_the_same_queries_as_a_page_of_10(root_client, structure):
    _add_overdue_clients(structure.root, 30)
    contact_log_record(
        investor=structure.asha,
        author=structure.root.user,
        outcome="no_answer",
        today=dt.date(2026, 3, 15),
    )
    counts = []
    for size in (10, 100):
        client = APIClient()  # a user loaded afresh, as each request does
        client.force_authenticate(get_user_model().objects.get(pk=structure.root.user_id))
        with CaptureQueriesContext(connection) as queries:
            response = get(client, overdue="true", page_size=size)
        assert len(response.json()["results"]) == min(size, 33)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # Who the user is, the count and the rows: nothing per row.
    assert counts[0] == 3


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"overdue": "maybe"}, "overdue"),
        ({"days_left_lte": "soon"}, "days_left_lte"),
        ({"days_left_lte": "1.5"}, "days_left_lte"),
        ({"days_left_lte": "99999999999999999999"}, "days_left_lte"),
        ({"plan_status": "paused"}, "plan_status"),
        ({"level_lte": "0"}, "level_lte"),
        ({"level_lte": "x"}, "level_lte"),
        ({"ordering": "shoe_size"}, "ordering"),
        ({"search": "x" * 101}, "search"),
    ],
)
def test_a_bad_filter_value_is_a_400_on_its_field(root_client, structure, params, field):
    response = get(root_client, **params)
    assert response.status_code == 400
    assert field in response.json()


def test_a_participant_choosing_a_structure_is_a_400(root_client, structure):
    response = get(root_client, participant=structure.other_root.pk)
    assert response.status_code == 400
    assert response.json() == {"participant": ["Only staff may choose whose structure to read."]}


def test_staff_choose_any_participants_structure(db, structure):
    client = APIClient()
    client.force_authenticate(StaffFactory())
    assert names(get(client, participant=structure.other_root.pk)) == ["Xavier"]
    assert names(get(client, participant=structure.root.pk, overdue="true")) == [
        "Chetan",
        "Bina",
        "Asha",
    ]


@pytest.mark.parametrize("value", ["999999", "abc"])
def test_staff_choosing_a_participant_that_does_not_exist_is_a_400(db, structure, value):
    client = APIClient()
    client.force_authenticate(StaffFactory())
    response = get(client, participant=value)
    assert response.status_code == 400
    assert "participant" in response.json()


def test_staff_choosing_an_investor_without_a_login_is_a_400(db, structure):
    client = APIClient()
    client.force_authenticate(StaffFactory())
    response = get(client, participant=structure.asha.pk)
    assert response.status_code == 400
    assert response.json() == {"participant": ["No participant has this id."]}


def test_staff_without_a_participant_are_asked_to_choose_one(db, structure):
    client = APIClient()
    client.force_authenticate(StaffFactory())
    response = get(client)
    assert response.status_code == 400
    assert "participant" in response.json()


def test_the_schema_documents_every_structure_parameter(staff_client):
    schema = staff_client.get("/api/schema/?format=json").json()
    parameters = {p["name"] for p in schema["paths"]["/api/structure/"]["get"]["parameters"]}
    assert {
        "overdue",
        "days_left_lte",
        "plan_status",
        "level_lte",
        "search",
        "ordering",
        "participant",
        "page",
        "page_size",
    } <= parameters


def test_the_structure_reads_the_same_overdue_state_as_the_investor_read_model(
    root_client, structure, today
):
    """The Structure's one-pass aggregates agree with a fresh aggregate of the plans'
    overdue state, also for an investor with two overdue plans, one on hold past its natural
    deadline."""
    from clients.models import Investor
    from installments.models import Plan

    second = make_plan(
        investor=structure.asha, first_due_date=dt.date(2026, 2, 20), today=dt.date(2026, 2, 1)
    )
    with plans_changing() as changes:  # a hold that plan_hold would refuse: 2026-02-01 is past
        changes.lock(second)
        Plan.objects.filter(pk=second.pk).update(hold_until=dt.date(2026, 4, 30))
    fields = ["overdue", "overdue_amount", "oldest_overdue_due_date", "grace_deadline", "days_left"]
    expected = {
        pk: dict.fromkeys(fields) | {"overdue": False, "overdue_amount": 0}
        for pk in Investor.objects.in_structure_of(structure.root).values_list("pk", flat=True)
    }
    for plan in Plan.objects.filter(investor__in=list(expected)).with_overdue(today):
        if not plan.overdue:
            continue
        row = expected[plan.investor_id]
        row["overdue"] = True
        row["overdue_amount"] += plan.overdue_amount
        row["oldest_overdue_due_date"] = min(
            filter(None, (row["oldest_overdue_due_date"], plan.oldest_overdue_due_date))
        )
        row["grace_deadline"] = min(filter(None, (row["grace_deadline"], plan.grace_deadline)))
        row["days_left"] = (row["grace_deadline"] - today).days
    listed = get(root_client, page_size=50).json()["results"]
    actual = {row["id"]: {key: row[key] for key in fields} for row in listed}
    for values in expected.values():
        values["overdue_amount"] = f"{values['overdue_amount']:.2f}"
        for key in ("oldest_overdue_due_date", "grace_deadline"):
            values[key] = values[key] and values[key].isoformat()
    assert actual == expected
    assert actual[structure.asha.pk]["overdue_amount"] == "600.00"
    assert actual[structure.asha.pk]["oldest_overdue_due_date"] == "2026-02-20"
    assert actual[structure.asha.pk]["grace_deadline"] == "2026-03-20"  # the other plan's


def test_the_count_names_only_columns_of_the_path_head_index(root_client, structure):
    """The count of a large structure is an index-only scan of `investor_path_head_idx` (a
    root within the path's head, as every participant of this structure is) only while it
    names no other column: not the id (COUNT(id), or the participant themselves `OR id =
    …`), not the whole path, nothing outside the head and the read model."""
    from clients.models import Investor

    (index,) = [i for i in Investor._meta.indexes if i.name == "investor_path_head_idx"]
    with CaptureQueriesContext(connection) as queries:
        response = get(root_client, overdue="true")
    body = response.json()
    assert body["count"] == len(body["results"]) > 0
    (count,) = [query["sql"] for query in queries if "COUNT(" in query["sql"]]
    named = set(re.findall(r'"clients_investor"\."(\w+)"', count))
    assert named <= {*index.fields, *index.include}
    assert named >= {"path_head", "oldest_unpaid_due_date"}


def test_a_deep_participants_count_names_only_columns_of_the_path_index(db, today):
    """A participant whose path is as long as the head (ten levels down) is counted on the
    whole path (`in_structure_of`), from `investor_path_overdue_idx` alone."""
    from clients.models import PATH_HEAD, Investor
    from tests.factories import InvestorFactory, participant

    (index,) = [i for i in Investor._meta.indexes if i.name == "investor_path_overdue_idx"]
    sponsor = None
    for _ in range(9):
        sponsor = InvestorFactory(sponsor=sponsor)
    deep = participant("deep", sponsor=sponsor)
    InvestorFactory(sponsor=deep)
    assert len(deep.path) == PATH_HEAD
    client = APIClient()
    client.force_authenticate(deep.user)
    with CaptureQueriesContext(connection) as queries:
        response = get(client, overdue="false")
    assert response.json()["count"] == 1
    (count,) = [query["sql"] for query in queries if "COUNT(" in query["sql"]]
    named = set(re.findall(r'"clients_investor"\."(\w+)"', count))
    assert named <= {*index.fields, *index.include}
    assert "path" in named and "path_head" not in named


def test_a_token_request_reads_the_participant_with_the_token_and_builds_no_query_it_ran_before(
    structure, django_assert_num_queries
):
    """The token, its user and the user's participant come in one query, and a request whose
    statements were compiled before runs only them: the count and the page's rows."""
    token = Token.objects.create(user=structure.root.user)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    first = client.get("/api/structure/", {"overdue": "true"})
    assert first.status_code == 200
    with django_assert_num_queries(3) as captured:
        again = client.get("/api/structure/", {"overdue": "true"})
    assert again.json() == first.json()
    assert "clients_investor" in captured.captured_queries[0]["sql"]  # with the token
