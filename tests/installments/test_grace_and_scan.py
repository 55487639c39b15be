"""The 19-day grace window, the overdue read model, the scan, restore, hold and the automatic
restore by a payment received in time (docs/rules.md: overdue and the grace window)."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backoffice.lib.errors import DomainError
from clients.models import Investor
from installments.models import Plan, PlanEvent, PlanEventKind, PlanStatus
from installments.read_model import investors_with_overdue, with_overdue_amount
from installments.services import (
    payment_record,
    plan_hold,
    plan_release_hold,
    plan_restore,
    plans_cancel_expired,
)
from tests.factories import InvestorFactory, make_plan

pytestmark = pytest.mark.django_db

D = dt.date(2025, 3, 10)  # the first due date of the plans below
DAY = dt.timedelta(days=1)


def overdue_row(plan, today):
    return (
        Plan.objects.with_overdue(today)
        .values(
            "overdue", "overdue_amount", "oldest_overdue_due_date", "grace_deadline", "days_left"
        )
        .get(pk=plan.pk)
    )


def scan(on):
    return [c.plan_id for c in plans_cancel_expired(scan_date=on)]


def status(plan):
    plan.refresh_from_db()
    return plan.status


# ---------------------------------------------------------------------------- read model


def test_a_plan_is_not_overdue_on_its_due_date():
    plan = make_plan(first_due_date=D)
    row = overdue_row(plan, D)
    assert row == {
        "overdue": False,
        "overdue_amount": 0,
        "oldest_overdue_due_date": None,
        "grace_deadline": None,
        "days_left": None,
    }


def test_the_day_after_the_due_date_the_plan_is_overdue_with_18_days_left():
    plan = make_plan(first_due_date=D)
    row = overdue_row(plan, D + DAY)
    assert row["overdue"] is True
    assert row["overdue_amount"] == Decimal("300.00")
    assert row["oldest_overdue_due_date"] == D
    assert row["grace_deadline"] == D + 19 * DAY
    assert row["days_left"] == 18


def test_days_left_is_negative_after_the_deadline_while_no_scan_has_run():
    plan = make_plan(first_due_date=D)
    today = D + 25 * DAY
    row = overdue_row(plan, today)
    assert row["days_left"] == -6
    assert status(plan) == PlanStatus.ACTIVE


def test_a_plan_brought_in_with_a_past_first_due_date_is_overdue_from_the_first_moment():
    today = dt.date(2025, 6, 20)
    plan = make_plan(first_due_date=dt.date(2025, 4, 15), today=today)
    row = overdue_row(plan, today)
    # April, May and June 15th are past: three installments overdue, the oldest from April.
    assert row["overdue_amount"] == Decimal("900.00")
    assert row["oldest_overdue_due_date"] == dt.date(2025, 4, 15)
    assert row["days_left"] == (dt.date(2025, 5, 4) - today).days


def test_a_partly_paid_installment_is_overdue_for_what_is_still_owed():
    plan = make_plan(first_due_date=D)
    payment_record(plan=plan, amount="100.00", received_on=D, reference="PART", today=D)
    assert overdue_row(plan, D + DAY)["overdue_amount"] == Decimal("200.00")


def test_paying_the_arrears_clears_the_overdue_state_at_once():
    plan = make_plan(first_due_date=D)
    payment_record(
        plan=plan, amount="300.00", received_on=D + 5 * DAY, reference="P", today=D + 5 * DAY
    )
    assert overdue_row(plan, D + 5 * DAY)["overdue"] is False


def test_investors_are_annotated_with_their_most_urgent_plan_in_one_query(
    django_assert_num_queries,
):
    investor = InvestorFactory()
    make_plan(investor=investor, first_due_date=D)
    make_plan(investor=investor, first_due_date=D + 5 * DAY)
    today = D + 10 * DAY
    with django_assert_num_queries(1):
        row = (
            with_overdue_amount(
                investors_with_overdue(Investor.objects.all(), today=today), today=today
            )
            .values(
                "overdue",
                "overdue_amount",
                "oldest_overdue_due_date",
                "grace_deadline",
                "days_left",
            )
            .get(pk=investor.pk)
        )
    assert row["overdue"] is True
    assert row["overdue_amount"] == Decimal("600.00")
    assert row["oldest_overdue_due_date"] == D
    assert row["grace_deadline"] == D + 19 * DAY
    assert row["days_left"] == 9


# ---------------------------------------------------------------------------- the scan


def test_plan_is_still_active_and_saveable_on_d_plus_19():
    plan = make_plan(first_due_date=D)
    assert scan(D + 19 * DAY) == []
    assert status(plan) == PlanStatus.ACTIVE
    payment_record(
        plan=plan, amount="300.00", received_on=D + 19 * DAY, reference="SAVE", today=D + 19 * DAY
    )
    assert scan(D + 20 * DAY) == []
    assert status(plan) == PlanStatus.ACTIVE


def test_plan_is_cancelled_by_the_scan_of_d_plus_20():
    plan = make_plan(first_due_date=D)
    assert scan(D + 20 * DAY) == [plan.pk]
    plan.refresh_from_db()
    assert (plan.status, plan.cancelled_on) == (PlanStatus.CANCELLED, D + 20 * DAY)
    event = plan.events.get(kind=PlanEventKind.CANCELLED)
    assert event.actor is None
    assert str(D + 19 * DAY) in event.reason


def test_a_second_scan_of_the_same_date_changes_nothing():
    make_plan(first_due_date=D)
    scan(D + 20 * DAY)
    events = PlanEvent.objects.count()
    assert scan(D + 20 * DAY) == []
    assert PlanEvent.objects.count() == events


def test_a_scan_after_missed_nights_catches_up_every_expired_plan():
    early = make_plan(first_due_date=D)
    later = make_plan(first_due_date=D + 3 * DAY)
    safe = make_plan(first_due_date=D + 25 * DAY)  # deadline D+44
    assert sorted(scan(D + 40 * DAY)) == sorted([early.pk, later.pk])
    assert status(safe) == PlanStatus.ACTIVE


def test_a_cancelled_plan_keeps_the_shares_already_credited_and_gets_no_more():
    plan = make_plan(first_due_date=D)
    payment_record(plan=plan, amount="300.00", received_on=D, reference="ONE", today=D)
    next_due = D.replace(month=4)
    scan(next_due + 20 * DAY)
    assert status(plan) == PlanStatus.CANCELLED
    assert sum(plan.ledger.values_list("shares", flat=True)) == 100
    with pytest.raises(DomainError):
        payment_record(
            plan=plan,
            amount="2700.00",
            received_on=next_due + 30 * DAY,
            reference="LATE",
            today=next_due + 30 * DAY,
        )
    assert sum(plan.ledger.values_list("shares", flat=True)) == 100


def test_dry_run_reports_and_changes_nothing():
    plan = make_plan(first_due_date=D)
    would = plans_cancel_expired(scan_date=D + 20 * DAY, dry_run=True)
    assert [c.plan_id for c in would] == [plan.pk]
    assert status(plan) == PlanStatus.ACTIVE


def test_scan_reads_only_the_plans_that_change(django_assert_max_num_queries):
    for k in range(5):
        make_plan(first_due_date=D + k * DAY)
    # Whatever the number of plans: a select of candidates, their investors' names, an
    # update, a bulk insert, the savepoint statements of the transaction, and the investors'
    # read model (their rows locked, an UPDATE from their plans, one from their installments).
    with django_assert_max_num_queries(9):
        assert len(scan(D + 40 * DAY)) == 5


# ---------------------------------------------------------------------------- hold


def test_a_plan_on_hold_is_not_cancelled_until_the_hold_ends():
    plan = make_plan(first_due_date=D)
    until = D + 30 * DAY
    plan_hold(plan=plan, until=until, reason="Hospital stay", today=D + 5 * DAY)
    assert scan(D + 25 * DAY) == []
    assert scan(until) == []
    assert overdue_row(plan, D + 25 * DAY)["grace_deadline"] == until
    assert scan(until + DAY) == [plan.pk]


def test_a_hold_needs_a_reason_and_a_date_not_in_the_past():
    plan = make_plan(first_due_date=D)
    with pytest.raises(DomainError) as no_reason:
        plan_hold(plan=plan, until=D + 30 * DAY, reason=" ", today=D)
    assert no_reason.value.field == "reason"
    with pytest.raises(DomainError) as past:
        plan_hold(plan=plan, until=D - DAY, reason="x", today=D)
    assert past.value.field == "until"


def test_releasing_a_hold_lets_the_next_scan_cancel_an_expired_plan():
    plan = make_plan(first_due_date=D)
    plan_hold(plan=plan, until=D + 60 * DAY, reason="Dispute", today=D)
    plan_release_hold(plan=plan, reason="Dispute settled", today=D + 30 * DAY)
    assert scan(D + 31 * DAY) == [plan.pk]
    assert list(plan.events.values_list("kind", flat=True))[-3:] == [
        PlanEventKind.HOLD,
        PlanEventKind.HOLD_RELEASED,
        PlanEventKind.CANCELLED,
    ]


# ---------------------------------------------------------------------------- restore


def test_restore_needs_a_written_reason():
    plan = make_plan(first_due_date=D)
    scan(D + 20 * DAY)
    with pytest.raises(DomainError) as error:
        plan_restore(plan=plan, reason="", today=D + 21 * DAY)
    assert error.value.field == "reason"
    assert status(plan) == PlanStatus.CANCELLED


def test_a_restored_plan_is_not_cancelled_again_by_the_next_scan(staff):
    plan = make_plan(first_due_date=D)
    scan(D + 20 * DAY)
    today = D + 22 * DAY
    plan_restore(plan=plan, reason="Investor paid in cash at the office", today=today, actor=staff)
    assert status(plan) == PlanStatus.ACTIVE
    assert scan(today + DAY) == []
    row = overdue_row(plan, today)
    assert (row["overdue"], row["days_left"]) == (True, 19)
    event = plan.events.get(kind=PlanEventKind.RESTORED)
    assert (event.actor, event.reason) == (staff, "Investor paid in cash at the office")
    # A fresh window, not forever: unpaid, it is cancelled once that window runs out too.
    assert scan(today + 20 * DAY) == [plan.pk]


def test_only_a_cancelled_plan_can_be_restored():
    plan = make_plan(first_due_date=D)
    with pytest.raises(DomainError, match="not cancelled"):
        plan_restore(plan=plan, reason="why not", today=D)


# ---------------------------------------------------------------------------- late records


def test_a_payment_received_by_the_deadline_but_recorded_after_the_cancellation_restores():
    plan = make_plan(first_due_date=D)
    scan(D + 20 * DAY)
    result = payment_record(
        plan=plan,
        amount="300.00",
        received_on=D + 19 * DAY,
        reference="BANK-LATE",
        today=D + 23 * DAY,
    )
    assert result.restored
    plan.refresh_from_db()
    assert (plan.status, plan.cancelled_on) == (PlanStatus.ACTIVE, None)
    event = plan.events.get(kind=PlanEventKind.AUTO_RESTORED)
    assert "counts as paid in time" in event.reason
    assert event.actor is None
    assert scan(D + 24 * DAY) == []


def test_a_payment_received_after_the_deadline_does_not_restore_and_is_refused():
    plan = make_plan(first_due_date=D)
    scan(D + 20 * DAY)
    with pytest.raises(DomainError, match="after the grace deadline"):
        payment_record(
            plan=plan,
            amount="300.00",
            received_on=D + 20 * DAY,
            reference="TOO-LATE",
            today=D + 23 * DAY,
        )
    assert status(plan) == PlanStatus.CANCELLED
    assert not plan.payments.exists()


def test_a_payment_in_time_that_does_not_clear_the_arrears_does_not_restore():
    plan = make_plan(first_due_date=D)
    scan(D + 20 * DAY)
    with pytest.raises(DomainError, match="does not cover"):
        payment_record(
            plan=plan,
            amount="200.00",
            received_on=D + 10 * DAY,
            reference="SHORT",
            today=D + 23 * DAY,
        )
    assert status(plan) == PlanStatus.CANCELLED


# ---------------------------------------------------------------------------- the command


def test_scan_overdue_command_cancels_and_prints_what_it_did():
    plan = make_plan(first_due_date=D)
    out = StringIO()
    call_command("scan_overdue", "--as-of", str(D + 20 * DAY), stdout=out)
    assert f"plan #{plan.pk}" in out.getvalue()
    assert "cancelled 1 plan(s)" in out.getvalue()
    assert status(plan) == PlanStatus.CANCELLED
    again = StringIO()
    call_command("scan_overdue", "--as-of", str(D + 20 * DAY), stdout=again)
    assert "cancelled 0 plan(s)" in again.getvalue()


def test_scan_overdue_dry_run_prints_what_it_would_do_and_changes_nothing():
    plan = make_plan(first_due_date=D)
    out = StringIO()
    call_command("scan_overdue", "--as-of", str(D + 20 * DAY), "--dry-run", stdout=out)
    assert "would cancel 1 plan(s)" in out.getvalue()
    assert status(plan) == PlanStatus.ACTIVE


@pytest.mark.parametrize("bad", ["2025-02-30", "yesterday", "9999-01-01"])
def test_scan_overdue_refuses_a_bad_date_with_a_message(bad):
    with pytest.raises(CommandError, match="--as-of"):
        call_command("scan_overdue", "--as-of", bad, stdout=StringIO())


def test_a_held_plan_that_is_paid_off_is_no_longer_on_hold():
    plan = make_plan(first_due_date=D, installment_count=1, price=Decimal("300.00"))
    plan_hold(plan=plan, until=D + 60 * DAY, reason="Travelling", today=D)
    payment_record(plan=plan, amount="300.00", received_on=D, reference="OFF", today=D)
    plan.refresh_from_db()
    assert not plan.is_on_hold(D)
    assert not Plan.objects.on_hold(D).filter(pk=plan.pk).exists()


@pytest.mark.raw_plan_writes
def test_the_scan_query_cancels_exactly_what_the_grace_rule_says():
    """past_grace() filters on the grace-deadline expression its index serves: for every mix
    of natural deadline, hold end and restore extension around the scan date, the plans it
    picks are exactly those rules.scan_cancels() picks."""
    from itertools import product

    from installments import rules

    scan_date = D + 60 * DAY
    near = [None, -1, 0, 1]
    expected = set()
    for natural, hold, extension in product([-1, 0, 1], near, near):
        plan = make_plan(first_due_date=D)
        oldest = scan_date + natural * DAY - rules.GRACE_DAYS * DAY
        hold_until = None if hold is None else scan_date + hold * DAY
        extended_to = None if extension is None else scan_date + extension * DAY
        Plan.objects.filter(pk=plan.pk).update(
            oldest_unpaid_due_date=oldest, hold_until=hold_until, grace_extended_to=extended_to
        )
        deadline = rules.grace_deadline(oldest, hold_until=hold_until, extended_to=extended_to)
        if rules.scan_cancels(deadline, scan_date):
            expected.add(plan.pk)
    fully_paid = make_plan(first_due_date=D)
    Plan.objects.filter(pk=fully_paid.pk).update(oldest_unpaid_due_date=None)

    assert set(Plan.objects.past_grace(scan_date).values_list("pk", flat=True)) == expected
    assert 0 < len(expected) < Plan.objects.count() - 1
