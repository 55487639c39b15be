"""The packages, plans and payments API (the API in the README): the contract integrators rely
on."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.lib.dates import business_today
from installments.models import (
    Allocation,
    Installment,
    Package,
    Payment,
    Plan,
    PlanEvent,
    PlanEventKind,
    PlanStatus,
    PurchaseStage,
    ShareLedgerEntry,
)
from installments.services import payment_record, plan_hold, plans_cancel_expired
from tests.factories import InvestorFactory, PackageFactory, StageFactory, make_plan, participant

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


@pytest.fixture
def today():
    """The business day of the request, held still so that no test straddles midnight."""
    with time_machine.travel(timezone.now(), tick=False):
        yield business_today()


def plan_due(today, days_ago, **kwargs):
    """A plan bought today whose first installment fell due `days_ago` days ago
    (negative: in the future). Default package: 3000.00 for 3000 shares in 10 installments."""
    return make_plan(first_due_date=today - days_ago * DAY, today=today, **kwargs)


def pay(plan, amount, received_on, reference, today):
    return payment_record(
        plan=plan, amount=amount, received_on=received_on, reference=reference, today=today
    )


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def counts():
    return (
        Payment.objects.count(),
        Allocation.objects.count(),
        ShareLedgerEntry.objects.count(),
        PlanEvent.objects.count(),
        list(Installment.objects.order_by("pk").values_list("paid_amount", "paid_on")),
    )


# ---------------------------------------------------------------------------- packages


PACKAGE = {
    "name": "Silver",
    "shares": 3000,
    "price": "3000.00",
    "installment_count": 10,
    "final_payment_fraction": "2/3",
}


def test_staff_create_a_package_and_get_every_contract_field_back(staff_client):
    response = post(staff_client, "/api/packages/", PACKAGE)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": "Silver",
        "shares": 3000,
        "price": "3000.00",
        "installment_count": 10,
        "final_payment_fraction": "2/3",
        "is_active": True,
    }
    assert isinstance(body["id"], int)
    detail = staff_client.get(f"/api/packages/{body['id']}/").json()
    assert detail == body


def test_a_decimal_fraction_is_accepted_and_answered_as_an_exact_fraction(staff_client):
    response = post(staff_client, "/api/packages/", {**PACKAGE, "final_payment_fraction": "0.5"})
    assert response.status_code == 201, response.json()
    assert response.json()["final_payment_fraction"] == "1/2"
    package = Package.objects.get()
    assert str(package.final_payment_fraction) == "1/2"
    assert staff_client.get(f"/api/packages/{package.pk}/").json()["final_payment_fraction"] == (
        "1/2"
    )


def test_a_fraction_of_zero_is_kept_and_plans_can_be_sold_under_it(staff_client, today):
    response = post(staff_client, "/api/packages/", {**PACKAGE, "final_payment_fraction": "0"})
    assert response.status_code == 201, response.json()
    assert response.json()["final_payment_fraction"] == "0/1"
    StageFactory()
    sale = {
        "investor": InvestorFactory().pk,
        "package": response.json()["id"],
        "first_due_date": today.isoformat(),
    }
    plan = post(staff_client, "/api/plans/", sale)
    assert plan.status_code == 201, plan.json()
    assert plan.json()["final_payment_fraction"] == "0/1"


def test_a_package_without_a_fraction_gets_the_default_two_thirds(staff_client):
    data = {k: v for k, v in PACKAGE.items() if k != "final_payment_fraction"}
    response = post(staff_client, "/api/packages/", data)
    assert response.status_code == 201
    assert response.json()["final_payment_fraction"] == "2/3"


@pytest.mark.parametrize(
    "fraction",
    [0.5, 0.6667, 1, "3/2", "-1/3", "2/0", "two thirds", "1e-999999999", "", None, "1/" + "9" * 40],
)
def test_a_fraction_that_is_not_an_exact_string_between_0_and_1_is_refused(staff_client, fraction):
    response = post(staff_client, "/api/packages/", {**PACKAGE, "final_payment_fraction": fraction})
    assert response.status_code == 400
    assert list(response.json()) == ["final_payment_fraction"]
    assert not Package.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "0"),
        ("price", "-1.00"),
        ("price", "10.001"),
        ("price", "NaN"),
        ("price", "99999999999.99"),
        ("shares", 0),
        ("shares", "many"),
        ("shares", 1_000_000_001),
        ("shares", 9_223_372_036_854_775_807),
        ("installment_count", 0),
        ("name", ""),
    ],
)
def test_bad_package_terms_are_a_400_on_the_field(staff_client, field, value):
    response = post(staff_client, "/api/packages/", {**PACKAGE, field: value})
    assert response.status_code == 400
    assert field in response.json()
    assert not Package.objects.exists()


def test_participants_read_packages_but_only_staff_add_them(participant_client, anonymous_client):
    PackageFactory()
    assert participant_client.get("/api/packages/").status_code == 200
    assert post(participant_client, "/api/packages/", PACKAGE).status_code == 403
    assert anonymous_client.get("/api/packages/").status_code == 401
    assert post(anonymous_client, "/api/packages/", PACKAGE).status_code == 401
    assert Package.objects.count() == 1


# ---------------------------------------------------------------------------- plans: reading


def test_a_plan_with_an_overdue_installment_shows_the_contract_fields_with_their_types(
    staff_client, today
):
    plan = plan_due(today, days_ago=10)
    body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    first_due = today - 10 * DAY
    assert body["id"] == plan.pk
    assert body["investor"] == plan.investor_id
    assert body["package"] == plan.package_id
    assert body["status"] == "active"
    assert body["first_due_date"] == first_due.isoformat()
    assert body["price"] == "3000.00"
    assert body["shares"] == 3000
    assert body["share_price"] == "1.00"
    assert body["final_payment_fraction"] == "2/3"
    assert body["overdue"] is True
    assert body["overdue_amount"] == "300.00"
    assert body["oldest_overdue_due_date"] == first_due.isoformat()
    assert body["grace_deadline"] == (first_due + 19 * DAY).isoformat()
    assert body["days_left"] == 9
    assert body["on_hold_until"] is None
    assert body["hold_reason"] == ""
    assert body["shares_credited"] == 0
    assert body["ledger"] == []
    assert len(body["installments"]) == 10
    assert body["installments"][0] == {
        "number": 1,
        "due_date": first_due.isoformat(),
        "amount": "300.00",
        "paid_amount": "0.00",
        "paid_on": None,
    }


def test_a_plan_with_nothing_overdue_has_no_deadline_and_null_days_left(staff_client, today):
    plan = plan_due(today, days_ago=-5)
    body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    assert body["overdue"] is False
    assert body["overdue_amount"] == "0.00"
    assert body["oldest_overdue_due_date"] is None
    assert body["grace_deadline"] is None
    assert body["days_left"] is None


def test_an_installment_due_today_is_not_yet_overdue(staff_client, today):
    plan = plan_due(today, days_ago=0)
    body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    assert (body["overdue"], body["days_left"]) == (False, None)


def test_days_left_is_negative_once_the_deadline_has_passed_and_no_scan_has_cancelled(
    staff_client, today
):
    plan = plan_due(today, days_ago=25)
    body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    assert body["status"] == "active"
    assert body["grace_deadline"] == (today - 6 * DAY).isoformat()
    assert body["days_left"] == -6


def test_the_overdue_amount_sums_every_overdue_installment_less_what_was_paid(staff_client, today):
    # Due 40 days ago and about 10 days ago; the third is due in about three weeks.
    plan = plan_due(today, days_ago=40)
    pay(plan, "100.00", today, "PART-1", today)
    body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    assert body["overdue_amount"] == "500.00"
    assert body["days_left"] == -21
    assert body["installments"][0]["paid_amount"] == "100.00"


def test_a_whole_number_overdue_amount_is_still_written_with_two_decimals(staff_client, today):
    plan = plan_due(today, days_ago=3, price=Decimal("1500"), installment_count=1, shares=1500)
    body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    assert body["overdue_amount"] == "1500.00"
    assert body["installments"][0]["amount"] == "1500.00"


def test_installment_amounts_add_up_to_the_price_with_the_remainder_last(staff_client, today):
    plan = plan_due(today, days_ago=-1, price=Decimal("1000.00"), installment_count=3, shares=900)
    body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    assert [i["amount"] for i in body["installments"]] == ["333.33", "333.33", "333.34"]


def test_the_share_ledger_and_shares_credited_follow_the_payments(staff_client, today):
    plan = plan_due(today, days_ago=-1)
    pay(plan, "300.00", today, "BANK-1", today)
    pay(plan, "300.00", today, "BANK-2", today)
    body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    assert body["shares_credited"] == 200
    payment = Payment.objects.get(reference="BANK-1")
    assert body["ledger"][0] == {
        "kind": "progressive",
        "shares": 100,
        "credited_on": today.isoformat(),
        "payment": payment.pk,
        "payment_reference": "BANK-1",
        "promotion": None,
    }
    assert body["installments"][0]["paid_on"] == today.isoformat()


def test_a_cancelled_plan_is_not_overdue_and_keeps_its_credited_shares(staff_client, today):
    plan = plan_due(today, days_ago=30)
    pay(plan, "300.00", today - 30 * DAY, "BANK-1", today)
    # The second installment fell due about a month later, then grace ran out.
    plans_cancel_expired(scan_date=today + 60 * DAY)
    body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    assert body["status"] == "cancelled"
    assert body["cancelled_on"] == (today + 60 * DAY).isoformat()
    assert (body["overdue"], body["overdue_amount"], body["days_left"]) == (False, "0.00", None)
    assert body["shares_credited"] == 100


def test_plans_are_listed_paginated_with_the_same_fields(staff_client, today):
    plan = plan_due(today, days_ago=10)
    body = staff_client.get("/api/plans/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 1
    assert body["results"][0] == staff_client.get(f"/api/plans/{plan.pk}/").json()


def test_plans_filter_by_overdue_status_and_investor(staff_client, today):
    overdue = plan_due(today, days_ago=10)
    current = plan_due(today, days_ago=-10)
    cancelled = plan_due(today, days_ago=30)
    plans_cancel_expired(scan_date=today)

    def ids(query):
        response = staff_client.get(f"/api/plans/?{query}")
        assert response.status_code == 200, response.json()
        return {p["id"] for p in response.json()["results"]}

    assert ids("overdue=true") == {overdue.pk}
    assert ids("overdue=false") == {current.pk, cancelled.pk}
    assert ids("status=cancelled") == {cancelled.pk}
    assert ids("status=active&overdue=false") == {current.pk}
    assert ids(f"investor={current.investor_id}") == {current.pk}
    assert ids("investor=999999") == set()


@pytest.mark.parametrize(
    ("query", "field"),
    [("overdue=maybe", "overdue"), ("status=lost", "status"), ("investor=abc", "investor")],
)
def test_a_bad_plan_filter_value_is_a_400_not_an_ignored_filter(staff_client, query, field):
    response = staff_client.get(f"/api/plans/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def _add_overdue_plans_with_a_payment(today, count):
    for _ in range(count):
        plan = plan_due(today, days_ago=40)
        pay(plan, "300.00", today, f"Q-{plan.pk}", today)


def _plan_list_queries(client, expected):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/plans/?page_size=50")
    assert response.status_code == 200
    assert len(response.json()["results"]) == expected
    return len(queries)


def test_the_plan_list_costs_the_same_number_of_queries_for_3_plans_as_for_30(staff_client, today):
    _add_overdue_plans_with_a_payment(today, 3)
    few = _plan_list_queries(staff_client, 3)
    _add_overdue_plans_with_a_payment(today, 27)
    assert _plan_list_queries(staff_client, 30) == few


def test_a_participants_plan_list_costs_a_constant_number_of_queries(
    participant_client, participant_investor, today
):
    def add(count):
        for _ in range(count):
            plan_due(today, days_ago=5, investor=InvestorFactory(sponsor=participant_investor))

    add(3)
    few = _plan_list_queries(participant_client, 3)
    add(27)
    assert _plan_list_queries(participant_client, 30) == few


# ---------------------------------------------------------------------------- plans: who sees what


@pytest.fixture
def trees(participant_investor, today):
    """The participant's own plan, a client's plan two levels down, and a plan in another
    participant's structure."""
    client = InvestorFactory(sponsor=participant_investor)
    grandchild = InvestorFactory(sponsor=client)
    stranger = InvestorFactory(sponsor=participant("other"))
    return {
        "own": plan_due(today, days_ago=3, investor=participant_investor),
        "structure": plan_due(today, days_ago=3, investor=grandchild),
        "other": plan_due(today, days_ago=3, investor=stranger),
        "sponsor": plan_due(today, days_ago=3, investor=InvestorFactory()),
    }


def test_a_participant_reads_the_plans_of_their_structure_and_their_own(participant_client, trees):
    listed = {p["id"] for p in participant_client.get("/api/plans/").json()["results"]}
    assert listed == {trees["own"].pk, trees["structure"].pk}
    assert participant_client.get(f"/api/plans/{trees['structure'].pk}/").status_code == 200
    assert participant_client.get(f"/api/plans/{trees['own'].pk}/").status_code == 200


def test_a_plan_outside_the_participants_structure_is_a_404(participant_client, trees):
    assert participant_client.get(f"/api/plans/{trees['other'].pk}/").status_code == 404
    assert participant_client.get("/api/plans/999999/").status_code == 404
    listed = participant_client.get(f"/api/plans/?investor={trees['other'].investor_id}").json()
    assert listed["count"] == 0


def test_staff_read_every_plan(staff_client, trees):
    assert staff_client.get("/api/plans/").json()["count"] == 4


def test_a_signed_in_user_who_is_not_a_participant_sees_no_plans(trees):
    from rest_framework.test import APIClient

    from tests.factories import UserFactory

    client = APIClient()
    client.force_authenticate(UserFactory())
    assert client.get("/api/plans/").json()["count"] == 0
    assert client.get(f"/api/plans/{trees['own'].pk}/").status_code == 404


def test_anonymous_requests_to_plans_are_a_401(anonymous_client, trees):
    assert anonymous_client.get("/api/plans/").status_code == 401
    assert anonymous_client.get(f"/api/plans/{trees['own'].pk}/").status_code == 401


# ---------------------------------------------------------------------------- plans: creating


@pytest.fixture
def sale(today):
    StageFactory()
    return {
        "investor": InvestorFactory().pk,
        "package": PackageFactory().pk,
        "first_due_date": (today - 10 * DAY).isoformat(),
    }


def test_staff_create_a_plan_and_it_is_overdue_at_once_when_its_first_date_is_past(
    staff_client, staff, sale, today
):
    response = post(staff_client, "/api/plans/", sale)
    assert response.status_code == 201, response.json()
    body = response.json()
    plan = Plan.objects.get()
    assert body["id"] == plan.pk
    assert (body["investor"], body["package"]) == (sale["investor"], sale["package"])
    assert body["status"] == "active"
    assert body["purchased_on"] == today.isoformat()
    assert body["first_due_date"] == sale["first_due_date"]
    assert body["overdue"] is True
    assert body["overdue_amount"] == "300.00"
    assert body["days_left"] == 9
    assert len(body["installments"]) == 10
    assert plan.events.get(kind=PlanEventKind.CREATED).actor == staff


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("investor", 999999),
        ("investor", "abc"),
        ("investor", None),
        ("package", 999999),
        ("first_due_date", "2025-02-30"),
        ("first_due_date", "10/01/2025"),
        ("first_due_date", ""),
        ("first_due_date", "9999-12-01"),
        # Further back than ten years, or ahead than one: a typing slip, not a plan.
        ("first_due_date", "1900-01-01"),
        ("first_due_date", "2015-01-01"),
        ("first_due_date", "3000-01-01"),
    ],
)
def test_bad_plan_input_is_a_400_on_the_field_and_creates_nothing(staff_client, sale, field, value):
    response = post(staff_client, "/api/plans/", {**sale, field: value})
    assert response.status_code == 400
    assert field in response.json()
    assert not Plan.objects.exists()


@pytest.mark.parametrize("field", ["investor", "package", "first_due_date"])
def test_a_missing_plan_field_is_a_400_on_that_field(staff_client, sale, field):
    data = {k: v for k, v in sale.items() if k != field}
    response = post(staff_client, "/api/plans/", data)
    assert response.status_code == 400
    assert response.json()[field] == ["This field is required."]


def test_a_package_not_on_sale_is_refused_by_the_service_with_a_400_on_package(staff_client, sale):
    Package.objects.filter(pk=sale["package"]).update(is_active=False)
    response = post(staff_client, "/api/plans/", sale)
    assert response.status_code == 400
    assert "not on sale" in response.json()["package"][0]
    assert not Plan.objects.exists()


def test_a_plan_without_a_purchase_stage_in_force_is_a_400(staff_client, sale):
    PurchaseStage.objects.all().delete()
    response = post(staff_client, "/api/plans/", sale)
    assert response.status_code == 400
    assert "package" in response.json()


def test_only_staff_create_plans(participant_client, anonymous_client, sale):
    assert post(participant_client, "/api/plans/", sale).status_code == 403
    assert post(anonymous_client, "/api/plans/", sale).status_code == 401
    assert not Plan.objects.exists()


# ---------------------------------------------------------------------------- restore and hold


@pytest.fixture
def cancelled_plan(today):
    plan = plan_due(today, days_ago=30)
    plans_cancel_expired(scan_date=today)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CANCELLED
    return plan


def test_staff_restore_a_cancelled_plan_with_a_fresh_window_and_the_reason_is_audited(
    staff_client, staff, cancelled_plan, today
):
    url = f"/api/plans/{cancelled_plan.pk}/restore/"
    response = post(staff_client, url, {"reason": "Client paid at the branch"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "active"
    assert body["overdue"] is True
    assert body["grace_deadline"] == (today + 19 * DAY).isoformat()
    assert body["days_left"] == 19
    event = cancelled_plan.events.get(kind=PlanEventKind.RESTORED)
    assert (event.reason, event.actor) == ("Client paid at the branch", staff)


def test_restoring_without_a_reason_is_a_400_and_the_plan_stays_cancelled(
    staff_client, cancelled_plan
):
    for data in ({}, {"reason": "   "}):
        response = post(staff_client, f"/api/plans/{cancelled_plan.pk}/restore/", data)
        assert response.status_code == 400
        assert "reason" in response.json()
    cancelled_plan.refresh_from_db()
    assert cancelled_plan.status == PlanStatus.CANCELLED


def test_restoring_a_plan_that_is_not_cancelled_is_a_400_on_plan(staff_client, today):
    plan = plan_due(today, days_ago=3)
    response = post(staff_client, f"/api/plans/{plan.pk}/restore/", {"reason": "why not"})
    assert response.status_code == 400
    assert "not cancelled" in response.json()["plan"][0]


def test_only_staff_restore_and_a_participant_is_refused_even_in_their_structure(
    participant_client, participant_investor, anonymous_client, today
):
    plan = plan_due(today, days_ago=30, investor=participant_investor)
    plans_cancel_expired(scan_date=today)
    url = f"/api/plans/{plan.pk}/restore/"
    assert post(participant_client, url, {"reason": "please"}).status_code == 403
    assert post(anonymous_client, url, {"reason": "please"}).status_code == 401
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CANCELLED


def test_staff_put_a_plan_on_hold_until_a_date_with_a_reason(staff_client, today):
    plan = plan_due(today, days_ago=25)
    until = today + 30 * DAY
    response = post(
        staff_client,
        f"/api/plans/{plan.pk}/hold/",
        {"until": until.isoformat(), "reason": "Hospital stay"},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["on_hold_until"], body["hold_reason"]) == (until.isoformat(), "Hospital stay")
    # A hold is no cancellation until its end: the deadline moves with it.
    assert body["grace_deadline"] == until.isoformat()
    assert body["days_left"] == 30


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"until": "yesterday", "reason": "x"}, "until"),
        ({"reason": "x"}, "until"),
        ({"until": "PAST", "reason": "x"}, "until"),
        ({"until": "FUTURE"}, "reason"),
        ({"until": "FUTURE", "reason": "x" * 1001}, "reason"),
        ({"until": "9999-12-31", "reason": "x"}, "until"),
        ({"until": "A_YEAR_AND_A_DAY", "reason": "x"}, "until"),
    ],
)
def test_a_bad_hold_is_a_400_on_the_field_and_changes_nothing(staff_client, today, data, field):
    plan = plan_due(today, days_ago=3)
    replace = {
        "PAST": (today - DAY).isoformat(),
        "FUTURE": (today + DAY).isoformat(),
        "A_YEAR_AND_A_DAY": (today + 367 * DAY).isoformat(),
    }
    data = {k: replace.get(v, v) for k, v in data.items()}
    response = post(staff_client, f"/api/plans/{plan.pk}/hold/", data)
    assert response.status_code == 400
    assert field in response.json()
    plan.refresh_from_db()
    assert plan.hold_until is None


def test_staff_release_a_hold_with_a_reason(staff_client, today):
    plan = plan_due(today, days_ago=3)
    plan_hold(plan=plan, until=today + 5 * DAY, reason="Travel", today=today)
    response = post(staff_client, f"/api/plans/{plan.pk}/release-hold/", {"reason": "Back home"})
    assert response.status_code == 200
    assert response.json()["on_hold_until"] is None


def test_only_staff_put_plans_on_hold(participant_client, participant_investor, today):
    plan = plan_due(today, days_ago=3, investor=participant_investor)
    data = {"until": (today + DAY).isoformat(), "reason": "x"}
    assert post(participant_client, f"/api/plans/{plan.pk}/hold/", data).status_code == 403
    plan.refresh_from_db()
    assert plan.hold_until is None


def test_list_filters_in_the_query_string_do_not_affect_a_plans_own_url(
    staff_client, cancelled_plan
):
    url = f"/api/plans/{cancelled_plan.pk}/"
    assert staff_client.get(f"{url}?status=active").status_code == 200
    response = post(staff_client, f"{url}restore/?overdue=true", {"reason": "Paid in cash"})
    assert response.status_code == 200


def test_acting_on_a_plan_that_does_not_exist_is_a_404(staff_client):
    assert post(staff_client, "/api/plans/999999/restore/", {"reason": "x"}).status_code == 404


# ---------------------------------------------------------------------------- payments


@pytest.fixture
def plan(today):
    return plan_due(today, days_ago=10)


def payment_data(for_plan, today, **changes):
    return {
        "plan": for_plan.pk,
        "amount": "300.00",
        "received_on": today.isoformat(),
        "reference": "BANK-77",
        **changes,
    }


def test_posting_a_payment_answers_201_with_the_payment_and_its_allocations(
    staff_client, plan, today
):
    response = post(staff_client, "/api/payments/", payment_data(plan, today, amount="450.00"))
    assert response.status_code == 201, response.json()
    body = response.json()
    payment = Payment.objects.get()
    assert body["id"] == payment.pk
    assert body["plan"] == plan.pk
    assert body["amount"] == "450.00"
    assert body["received_on"] == today.isoformat()
    assert body["reference"] == "BANK-77"
    assert body["allocations"] == [
        {"installment_number": 1, "amount": "300.00"},
        {"installment_number": 2, "amount": "150.00"},
    ]
    assert body["credits"] == [
        {"kind": "progressive", "shares": 150, "credited_on": today.isoformat()}
    ]
    plan_body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    assert (plan_body["overdue"], plan_body["days_left"]) == (False, None)


def test_posting_the_same_payment_again_answers_200_with_the_original_and_posts_nothing(
    staff_client, plan, today
):
    first = post(staff_client, "/api/payments/", payment_data(plan, today))
    assert first.status_code == 201
    before = counts()
    again = post(staff_client, "/api/payments/", payment_data(plan, today))
    assert again.status_code == 200
    assert again.json() == first.json()
    assert counts() == before


def test_the_same_reference_with_other_content_is_a_409_on_reference_and_posts_nothing(
    staff_client, plan, today
):
    other = plan_due(today, days_ago=10)
    assert post(staff_client, "/api/payments/", payment_data(plan, today)).status_code == 201
    before = counts()
    for changes in (
        {"amount": "301.00"},
        {"received_on": (today - DAY).isoformat()},
        {"plan": other.pk},
    ):
        response = post(staff_client, "/api/payments/", payment_data(plan, today, **changes))
        assert response.status_code == 409
        assert list(response.json()) == ["reference"]
        assert "BANK-77" in response.json()["reference"][0]
    assert counts() == before


@pytest.mark.parametrize(
    "amount",
    [
        "1e400",
        "1E+30",
        "NaN",
        "Infinity",
        "-5",
        "0",
        "0.00",
        "1.234",
        "abc",
        "",
        None,
        True,
        0.1 + 0.2,
        "99999999999999",
        "3000.01",
    ],
)
def test_a_malformed_absurd_or_too_large_amount_is_a_400_on_amount_and_changes_nothing(
    staff_client, plan, today, amount
):
    before = counts()
    response = post(staff_client, "/api/payments/", payment_data(plan, today, amount=amount))
    assert response.status_code == 400
    assert list(response.json()) == ["amount"]
    assert counts() == before


@pytest.mark.parametrize("amount", ["-5", "0"])
def test_a_non_positive_amount_is_reported_together_with_the_other_field_errors(
    staff_client, plan, today, amount
):
    data = {**payment_data(plan, today, amount=amount), "received_on": "yesterday"}
    response = post(staff_client, "/api/payments/", data)
    assert response.status_code == 400
    assert set(response.json()) == {"amount", "received_on"}
    assert "greater than zero" in response.json()["amount"][0]


@pytest.mark.parametrize("amount", [300.5, 300, "1E2", "1e-2", "١٠٠", "٣٠٠.٠٠", "1_000"])
def test_a_json_number_an_exponent_or_other_digits_are_refused_as_money(
    staff_client, plan, today, amount
):
    response = post(staff_client, "/api/payments/", payment_data(plan, today, amount=amount))
    assert response.status_code == 400
    assert set(response.json()) == {"amount"}
    assert not Payment.objects.exists()


def test_a_package_whose_installment_is_under_a_cent_is_refused(staff_client):
    body = {"name": "Tiny", "shares": 1, "price": "0.01", "installment_count": 24}
    response = post(staff_client, "/api/packages/", body)
    assert response.status_code == 400
    assert "installment_count" in response.json()
    body["installment_count"] = 1
    assert post(staff_client, "/api/packages/", body).status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plan", 999999),
        ("plan", "abc"),
        ("received_on", "2025-13-01"),
        ("received_on", "FUTURE"),
        ("reference", ""),
        ("reference", "R" * 101),
    ],
)
def test_bad_payment_input_is_a_400_on_the_field_and_changes_nothing(
    staff_client, plan, today, field, value
):
    if value == "FUTURE":
        value = (today + DAY).isoformat()
    before = counts()
    response = post(staff_client, "/api/payments/", payment_data(plan, today, **{field: value}))
    assert response.status_code == 400
    assert field in response.json()
    assert counts() == before


@pytest.mark.parametrize("field", ["plan", "amount", "received_on", "reference"])
def test_a_missing_payment_field_is_a_400_on_that_field(staff_client, plan, today, field):
    data = payment_data(plan, today)
    del data[field]
    response = post(staff_client, "/api/payments/", data)
    assert response.status_code == 400
    assert response.json()[field] == ["This field is required."]
    assert not Payment.objects.exists()


def test_a_payment_to_a_plan_paid_in_full_is_a_400_on_plan(staff_client, today):
    plan = plan_due(today, days_ago=-1, price=Decimal("100.00"), installment_count=1, shares=100)
    pay(plan, "100.00", today, "FULL", today)
    response = post(staff_client, "/api/payments/", payment_data(plan, today, amount="1.00"))
    assert response.status_code == 400
    assert "plan" in response.json()


def test_a_late_payment_that_does_not_save_a_cancelled_plan_is_a_400_on_plan(
    staff_client, cancelled_plan, today
):
    before = counts()
    response = post(staff_client, "/api/payments/", payment_data(cancelled_plan, today))
    assert response.status_code == 400
    assert "plan" in response.json()
    assert counts() == before


def test_a_json_body_that_does_not_parse_is_a_400(staff_client):
    response = staff_client.post("/api/payments/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_only_staff_post_payments(
    participant_client, participant_investor, anonymous_client, today
):
    plan = plan_due(today, days_ago=3, investor=participant_investor)
    assert post(participant_client, "/api/payments/", payment_data(plan, today)).status_code == 403
    assert post(anonymous_client, "/api/payments/", payment_data(plan, today)).status_code == 401
    assert not Payment.objects.exists()


def test_payments_are_listed_and_filtered_by_plan_and_reference(staff_client, today):
    first, second = plan_due(today, days_ago=3), plan_due(today, days_ago=3)
    pay(first, "10.00", today, "A-1", today)
    pay(first, "10.00", today, "A-2", today)
    pay(second, "10.00", today, "B-1", today)

    def refs(query):
        response = staff_client.get(f"/api/payments/?{query}")
        assert response.status_code == 200
        return {p["reference"] for p in response.json()["results"]}

    assert refs("") == {"A-1", "A-2", "B-1"}
    assert refs(f"plan={first.pk}") == {"A-1", "A-2"}
    assert refs("reference=B-1") == {"B-1"}
    assert staff_client.get("/api/payments/?plan=x").status_code == 400


def test_a_payment_detail_shows_its_allocations(staff_client, plan, today):
    payment = pay(plan, "300.00", today, "DETAIL", today).payment
    body = staff_client.get(f"/api/payments/{payment.pk}/").json()
    assert body["allocations"] == [{"installment_number": 1, "amount": "300.00"}]


def test_a_participant_reads_the_payments_of_their_structure_only(participant_client, trees, today):
    own = pay(trees["structure"], "10.00", today, "MINE", today).payment
    other = pay(trees["other"], "10.00", today, "THEIRS", today).payment
    listed = participant_client.get("/api/payments/").json()["results"]
    assert [p["reference"] for p in listed] == ["MINE"]
    assert participant_client.get(f"/api/payments/{own.pk}/").status_code == 200
    assert participant_client.get(f"/api/payments/{other.pk}/").status_code == 404
    assert participant_client.get("/api/payments/?reference=THEIRS").json()["count"] == 0


def test_a_plan_paid_off_during_its_hold_is_no_longer_on_hold(staff_client, today):
    plan = make_plan(first_due_date=today, today=today, installment_count=1)
    until = today + dt.timedelta(days=20)
    plan_hold(plan=plan, until=until, reason="Travelling", today=today)
    assert staff_client.get(f"/api/plans/{plan.pk}/").json()["on_hold_until"] == until.isoformat()
    payment_record(
        plan=plan, amount=str(plan.price), received_on=today, reference="PAID-OFF", today=today
    )
    body = staff_client.get(f"/api/plans/{plan.pk}/").json()
    assert (body["status"], body["on_hold_until"]) == ("completed", None)


def test_a_refusal_of_the_rules_reads_in_the_readers_language(staff_client, plan, today):
    data = payment_data(plan, today, amount="0")
    response = staff_client.post(
        "/api/payments/",
        json.dumps(data),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="hi",
    )
    assert response.status_code == 400
    assert response.json()["amount"] == ["राशि शून्य से अधिक होनी चाहिए।"]


def test_a_refusal_writes_its_days_as_the_pages_do():
    from backoffice.lib.errors import shown
    from installments import rules

    with pytest.raises(rules.RuleError) as refused:
        rules.hold_check(dt.date(2027, 5, 1), today=dt.date(2026, 3, 31))
    assert str(refused.value) == "A hold lasts 366 days at the most: until 2027-04-01."
    assert shown(refused.value) == "A hold lasts 366 days at the most: until April 1, 2027."
