"""Every write to a plan goes through `plans_changing()`, which keeps the investors' read
model in the same transaction. The suite-wide guard (tests/conftest.py) fails any test whose
code writes a plan or an installment outside it; these tests show the guard itself works."""

import datetime as dt

import pytest

from installments.models import Installment, Plan
from installments.read_model import plans_changing
from tests.factories import make_plan
from tests.plan_writes import PlanWrittenOutsidePlansChanging

pytestmark = pytest.mark.django_db

D = dt.date(2026, 1, 1)


def test_a_plan_written_outside_plans_changing_fails_the_test():
    plan = make_plan(first_due_date=D)
    with pytest.raises(PlanWrittenOutsidePlansChanging):
        Plan.objects.filter(pk=plan.pk).update(hold_until=D)


def test_an_installment_written_outside_plans_changing_fails_the_test():
    plan = make_plan(first_due_date=D)
    with pytest.raises(PlanWrittenOutsidePlansChanging):
        Installment.objects.filter(plan=plan).update(paid_on=D)


def test_inside_plans_changing_the_write_refreshes_the_investor_in_the_same_transaction():
    plan = make_plan(first_due_date=D)
    with plans_changing() as changes:
        changes.lock(plan)
        Plan.objects.filter(pk=plan.pk).update(oldest_unpaid_due_date=D - dt.timedelta(days=40))
    plan.investor.refresh_from_db()
    assert plan.investor.oldest_unpaid_due_date == D - dt.timedelta(days=40)


def test_a_refusal_inside_plans_changing_rolls_the_write_and_the_refresh_back():
    plan = make_plan(first_due_date=D)
    with pytest.raises(RuntimeError), plans_changing() as changes:
        changes.lock(plan)
        Plan.objects.filter(pk=plan.pk).update(oldest_unpaid_due_date=D - dt.timedelta(days=40))
        raise RuntimeError("refused")
    plan.refresh_from_db()
    plan.investor.refresh_from_db()
    assert plan.oldest_unpaid_due_date == D
    assert plan.investor.oldest_unpaid_due_date == D
