"""Recording payments (docs/rules.md: payments, shares credited, promotions) through the service."""

import datetime as dt
from decimal import Decimal

import pytest

from backoffice.lib.errors import ConflictError, DomainError
from installments.models import (
    Allocation,
    CreditKind,
    Payment,
    PlanEvent,
    PlanEventKind,
    PlanStatus,
    ShareLedgerEntry,
)
from installments.services import payment_record
from tests.factories import PromotionFactory, make_plan

pytestmark = pytest.mark.django_db

D = Decimal
FIRST_DUE = dt.date(2025, 1, 10)
TODAY = dt.date(2026, 1, 1)


def pay(plan, amount, received_on, reference):
    return payment_record(
        plan=plan, amount=amount, received_on=received_on, reference=reference, today=TODAY
    )


def snapshot(plan):
    plan.refresh_from_db()
    return (
        plan.status,
        plan.oldest_unpaid_due_date,
        list(plan.installments.values_list("paid_amount", "paid_on")),
        Payment.objects.count(),
        Allocation.objects.count(),
        ShareLedgerEntry.objects.count(),
        PlanEvent.objects.count(),
    )


def test_a_payment_pays_the_oldest_installment_and_the_rest_goes_to_the_next():
    plan = make_plan(first_due_date=FIRST_DUE)
    pay(plan, "450.00", FIRST_DUE, "REF-1")
    first, second, third = plan.installments.order_by("number")[:3]
    assert (first.paid_amount, first.paid_on) == (D("300.00"), FIRST_DUE)
    assert (second.paid_amount, second.paid_on) == (D("150.00"), None)
    assert third.paid_amount == D("0.00")
    plan.refresh_from_db()
    assert plan.oldest_unpaid_due_date == second.due_date


def test_paid_date_is_the_received_date_of_the_payment_that_completes_the_installment():
    plan = make_plan(first_due_date=FIRST_DUE, today=dt.date(2025, 1, 1))
    pay(plan, "100.00", dt.date(2025, 1, 2), "A")
    pay(plan, "200.00", dt.date(2025, 1, 8), "B")
    assert plan.installments.get(number=1).paid_on == dt.date(2025, 1, 8)


def test_posting_the_same_reference_twice_posts_the_money_once():
    plan = make_plan(first_due_date=FIRST_DUE)
    first = pay(plan, "300.00", FIRST_DUE, "BANK-77")
    before = snapshot(plan)
    again = pay(plan, "300.00", FIRST_DUE, "BANK-77")
    assert first.created and not again.created
    assert again.payment.pk == first.payment.pk
    assert snapshot(plan) == before


def test_the_same_reference_with_other_content_is_a_conflict_and_changes_nothing():
    plan = make_plan(first_due_date=FIRST_DUE)
    pay(plan, "300.00", FIRST_DUE, "BANK-77")
    before = snapshot(plan)
    with pytest.raises(ConflictError) as error:
        pay(plan, "301.00", FIRST_DUE, "BANK-77")
    assert error.value.field == "reference"
    assert snapshot(plan) == before


def test_a_payment_larger_than_the_remaining_balance_is_refused_and_changes_nothing():
    plan = make_plan(first_due_date=FIRST_DUE)
    pay(plan, "2900.00", FIRST_DUE, "BIG-1")
    before = snapshot(plan)
    with pytest.raises(DomainError, match=r"remaining balance of 100\.00"):
        pay(plan, "100.01", FIRST_DUE, "BIG-2")
    assert snapshot(plan) == before


@pytest.mark.parametrize("amount", ["0", "-10.00", "abc", "1.001", "1e400", "NaN"])
def test_zero_negative_malformed_or_absurd_amounts_are_refused_and_change_nothing(amount):
    plan = make_plan(first_due_date=FIRST_DUE)
    before = snapshot(plan)
    with pytest.raises(DomainError) as error:
        pay(plan, amount, FIRST_DUE, "X-1")
    assert error.value.field == "amount"
    assert snapshot(plan) == before


def test_a_payment_received_in_the_future_is_refused():
    plan = make_plan(first_due_date=FIRST_DUE)
    with pytest.raises(DomainError) as error:
        pay(plan, "300.00", TODAY + dt.timedelta(days=1), "FUT-1")
    assert error.value.field == "received_on"


def test_a_payment_to_a_completed_plan_is_refused():
    plan = make_plan(first_due_date=FIRST_DUE)
    pay(plan, "3000.00", FIRST_DUE, "ALL")
    with pytest.raises(DomainError, match="already paid in full"):
        pay(plan, "1.00", FIRST_DUE, "MORE")


def test_nine_payments_of_300_credit_100_shares_each_and_the_tenth_2100():
    plan = make_plan(first_due_date=FIRST_DUE)
    credited = []
    for k, installment in enumerate(plan.installments.order_by("number"), start=1):
        result = pay(plan, "300.00", installment.due_date, f"P-{k}")
        credited.append(sum(entry.shares for entry in result.credits))
    assert credited == [100] * 9 + [2100]
    kinds = list(plan.ledger.values_list("kind", flat=True))
    assert kinds == [CreditKind.PROGRESSIVE] * 9 + [CreditKind.FINAL]
    plan.refresh_from_db()
    assert plan.status == PlanStatus.COMPLETED
    assert plan.completed_on == plan.installments.get(number=10).due_date
    assert plan.oldest_unpaid_due_date is None


def test_a_plan_with_final_fraction_one_half_credits_half_progressively():
    plan = make_plan(
        first_due_date=FIRST_DUE,
        final_payment_fraction="0.5",
        shares=1000,
        price=D("1000.00"),
        installment_count=4,
    )
    result = pay(plan, "250.00", FIRST_DUE, "H-1")
    assert [e.shares for e in result.credits] == [125]


def test_on_time_bonus_is_five_percent_when_every_installment_is_paid_by_its_due_date():
    PromotionFactory(kind="on_time", percentage=D("5"))
    plan = make_plan(first_due_date=FIRST_DUE)
    for k, installment in enumerate(plan.installments.order_by("number")):
        pay(plan, "300.00", installment.due_date, f"OT-{k}")
    bonus = plan.ledger.get(kind=CreditKind.ON_TIME_BONUS)
    assert bonus.shares == 150
    assert sum(plan.ledger.values_list("shares", flat=True)) == 3150


def test_one_day_late_on_any_installment_loses_the_on_time_bonus():
    PromotionFactory(kind="on_time", percentage=D("5"))
    plan = make_plan(first_due_date=FIRST_DUE)
    for k, installment in enumerate(plan.installments.order_by("number")):
        late = dt.timedelta(days=1 if k == 4 else 0)
        pay(plan, "300.00", installment.due_date + late, f"LATE-{k}")
    assert not plan.ledger.filter(kind=CreditKind.ON_TIME_BONUS).exists()


def test_on_time_bonus_needs_a_promotion_in_force_on_the_completing_payment():
    PromotionFactory(kind="on_time", starts_on=dt.date(2020, 1, 1), ends_on=dt.date(2024, 12, 31))
    plan = make_plan(first_due_date=FIRST_DUE, installment_count=1, price=D("300.00"))
    pay(plan, "300.00", FIRST_DUE, "ONE")
    assert not plan.ledger.filter(kind=CreditKind.ON_TIME_BONUS).exists()


def test_a_single_payment_of_two_whole_installments_earns_the_double_payment_bonus_once():
    PromotionFactory(kind="double_payment", percentage=D("2"))
    plan = make_plan(first_due_date=FIRST_DUE)
    pay(plan, "600.00", FIRST_DUE, "DBL-1")
    pay(plan, "600.00", rules_date(2), "DBL-2")
    bonus = plan.ledger.filter(kind=CreditKind.DOUBLE_PAYMENT_BONUS)
    assert [b.shares for b in bonus] == [60]


def rules_date(months):
    from installments.rules import add_months

    return add_months(FIRST_DUE, months)


def test_paying_one_and_a_half_installments_is_not_a_double_payment():
    PromotionFactory(kind="double_payment", percentage=D("2"))
    plan = make_plan(first_due_date=FIRST_DUE)
    pay(plan, "450.00", FIRST_DUE, "HALF")
    assert not plan.ledger.filter(kind=CreditKind.DOUBLE_PAYMENT_BONUS).exists()


def test_paying_off_the_balance_before_the_last_due_date_earns_the_early_repayment_bonus():
    PromotionFactory(kind="early_repayment", percentage=D("3"))
    plan = make_plan(first_due_date=FIRST_DUE)
    pay(plan, "300.00", FIRST_DUE, "E-1")
    pay(plan, "2700.00", rules_date(1), "E-2")
    assert plan.ledger.get(kind=CreditKind.EARLY_REPAYMENT_BONUS).shares == 90
    # Ledger total: package shares plus the bonus, never more.
    assert sum(plan.ledger.values_list("shares", flat=True)) == 3000 + 90


def test_the_audit_trail_records_each_payment_and_the_completion():
    plan = make_plan(first_due_date=FIRST_DUE, installment_count=1, price=D("300.00"))
    pay(plan, "300.00", FIRST_DUE, "AUD-1")
    assert list(plan.events.values_list("kind", flat=True)) == [
        PlanEventKind.CREATED,
        PlanEventKind.PAYMENT,
        PlanEventKind.COMPLETED,
    ]


def test_a_package_with_final_fraction_zero_credits_every_share_progressively():
    plan = make_plan(
        first_due_date=FIRST_DUE, final_payment_fraction="0", installment_count=2, price=D("600.00")
    )
    plan.refresh_from_db()
    assert plan.final_payment_fraction == 0
    result = pay(plan, "300.00", FIRST_DUE, "ZERO-1")
    assert [e.shares for e in result.credits] == [1500]


def test_a_payment_received_before_the_plan_was_bought_is_refused():
    plan = make_plan(first_due_date=dt.date(2026, 3, 1), today=dt.date(2026, 2, 1))
    with pytest.raises(DomainError) as refused:
        payment_record(
            plan=plan,
            amount=Decimal("100.00"),
            received_on=dt.date(1, 1, 1),
            reference="ANCIENT",
            today=dt.date(2026, 3, 1),
        )
    assert refused.value.field == "received_on"
    assert not plan.payments.exists()
