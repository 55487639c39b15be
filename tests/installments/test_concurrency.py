"""Races that only a real server shows: PostgreSQL row locks and concurrent transactions."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection

from installments.models import Allocation, Payment, PlanEvent, PlanEventKind, PlanStatus
from installments.services import payment_record, plans_cancel_expired
from tests.factories import make_plan

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

D = dt.date(2025, 3, 10)


def run_together(*calls):
    """Start every call at the same moment on its own connection; collect results/errors."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(k, c)) for k, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()
    return results


def test_the_same_reference_posted_twice_at_once_posts_the_money_once():
    plan = make_plan(first_due_date=D)

    def post():
        return payment_record(
            plan=plan, amount="300.00", received_on=D, reference="RACE-1", today=D
        )

    results = run_together(*([post] * 4))
    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert Payment.objects.count() == 1
    assert Allocation.objects.count() == 1
    assert plan.installments.get(number=1).paid_amount == Decimal("300.00")


def test_two_payments_at_once_to_one_plan_are_both_allocated_without_overlap():
    plan = make_plan(first_due_date=D)
    calls = [
        lambda ref=ref: payment_record(
            plan=plan, amount="300.00", received_on=D, reference=ref, today=D
        )
        for ref in ("A", "B")
    ]
    results = run_together(*calls)
    assert all(r.created for r in results), results
    paid = list(plan.installments.order_by("number").values_list("paid_amount", flat=True)[:3])
    assert paid == [Decimal("300.00"), Decimal("300.00"), Decimal("0.00")]


def test_two_scans_of_one_date_at_once_cancel_each_plan_once():
    plans = [make_plan(first_due_date=D + dt.timedelta(days=k)) for k in range(5)]
    scan_date = D + dt.timedelta(days=40)
    results = run_together(
        lambda: plans_cancel_expired(scan_date=scan_date),
        lambda: plans_cancel_expired(scan_date=scan_date),
    )
    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(len(r) for r in results) == 5
    assert PlanEvent.objects.filter(kind=PlanEventKind.CANCELLED).count() == 5
    for plan in plans:
        plan.refresh_from_db()
        assert plan.status == PlanStatus.CANCELLED
