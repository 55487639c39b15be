"""The Structure's per-investor read model (`Investor.oldest_unpaid_due_date`,
`Investor.earliest_grace_deadline`) always equals a fresh aggregate over the investor's active
plans, whatever sequence of services ran: every service that changes a plan's oldest unpaid
date, status, hold or extension rewrites it in the same transaction."""

import contextlib
import datetime as dt
import random
from decimal import Decimal

import pytest

from backoffice.lib.dates import business_today
from backoffice.lib.errors import DomainError
from clients.models import Investor
from installments import overdue, rules
from installments.models import Plan, PlanStatus
from installments.read_model import (
    investor_overdue_refresh,
    investor_overdue_refresh_all,
    kept_amounts_renew,
)
from installments.services import (
    payment_record,
    plan_add_shares,
    plan_hold,
    plan_release_hold,
    plan_restore,
    plans_cancel_expired,
)
from tests.factories import InvestorFactory, PackageFactory, make_plan

pytestmark = pytest.mark.django_db

START = dt.date(2025, 1, 1)
DAY = dt.timedelta(days=1)


def recomputed() -> dict[int, tuple]:
    """The read model computed from scratch, in Python, from the plans and the pure rules:
    (oldest unpaid due date, earliest grace deadline) over the active plans, and the price
    of all the plans and of the cancelled ones."""
    dates: dict[int, tuple[dt.date | None, dt.date | None]] = {
        pk: (None, None) for pk in Investor.objects.values_list("pk", flat=True)
    }
    prices = {pk: (ZERO, ZERO) for pk in dates}
    for plan in Plan.objects.all():
        price, cancelled = prices[plan.investor_id]
        if plan.status == PlanStatus.CANCELLED:
            cancelled += plan.price
        prices[plan.investor_id] = (price + plan.price, cancelled)
        if plan.status != PlanStatus.ACTIVE:
            continue
        oldest, grace = dates[plan.investor_id]
        deadline = rules.grace_deadline(
            plan.oldest_unpaid_due_date,
            hold_until=plan.hold_until,
            extended_to=plan.grace_extended_to,
        )
        dates[plan.investor_id] = (
            min(filter(None, (oldest, plan.oldest_unpaid_due_date))),
            min(filter(None, (grace, deadline))),
        )
    return {pk: (*dates[pk], *prices[pk]) for pk in dates}


def stored() -> dict[int, tuple]:
    return {
        pk: tuple(values)
        for pk, *values in Investor.objects.values_list(
            "pk",
            "oldest_unpaid_due_date",
            "earliest_grace_deadline",
            "plans_price",
            "cancelled_price",
        )
    }


def kept_recomputed(today: dt.date) -> dict[int, tuple]:
    """The kept overdue amount and its days, from the investors' unpaid installments on active
    plans, by `rules.overdue_amount_span` for `today` (the business day of the writes)."""
    owed: dict[int, list[rules.Outstanding]] = {
        pk: [] for pk in Investor.objects.values_list("pk", flat=True)
    }
    for plan in Plan.objects.filter(status=PlanStatus.ACTIVE).prefetch_related("installments"):
        owed[plan.investor_id] += [
            rules.Outstanding(key=i.pk, due_date=i.due_date, unpaid=i.unpaid)
            for i in plan.installments.all()
            if i.paid_on is None
        ]
    return {pk: rules.overdue_amount_span(items, today) for pk, items in owed.items()}


def kept() -> dict[int, tuple]:
    return {
        pk: (amount, first, last)
        for pk, amount, first, last in Investor.objects.values_list(
            "pk", "kept_overdue_amount", "kept_overdue_from", "kept_overdue_until"
        )
    }


ZERO = Decimal("0.00")


class Replay:
    """Random calls of the services a portfolio goes through, day after day."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.today = START
        self.investors = [InvestorFactory() for _ in range(4)]
        self.packages = [
            PackageFactory(price=Decimal("600.00"), shares=600, installment_count=3),
            PackageFactory(price=Decimal("1000.00"), shares=1000, installment_count=5),
        ]
        self.references = 0

    def plans(self, *statuses) -> list[Plan]:
        return list(Plan.objects.filter(status__in=statuses).order_by("pk"))

    def step(self) -> str:
        rng = self.rng
        action = rng.choice(
            ["create", "pay", "pay", "pay", "hold", "release", "restore", "scan", "shares", "day"]
        )
        if action == "create":
            make_plan(
                investor=rng.choice(self.investors),
                package=rng.choice(self.packages),
                first_due_date=self.today + rng.randint(-60, 20) * DAY,
                today=self.today,
            )
        elif action == "pay":
            plans = self.plans(PlanStatus.ACTIVE, PlanStatus.CANCELLED)
            if plans:
                plan = rng.choice(plans)
                owed = sum(i.unpaid for i in plan.installments.all())
                amount = min(owed, Decimal(rng.choice(["100.00", "200.00", "333.33", "1000.00"])))
                self.references += 1
                # A refused payment changes nothing; the model must still hold.
                with contextlib.suppress(DomainError):
                    payment_record(
                        plan=plan,
                        amount=amount,
                        received_on=self.today - rng.randint(0, 25) * DAY,
                        reference=f"R{self.references}",
                        today=self.today,
                    )
        elif action == "hold":
            plans = self.plans(PlanStatus.ACTIVE)
            if plans:
                until = self.today + rng.randint(0, 40) * DAY
                plan_hold(plan=rng.choice(plans), until=until, reason="travel", today=self.today)
        elif action == "release":
            held = [p for p in self.plans(PlanStatus.ACTIVE) if p.is_on_hold(self.today)]
            if held:
                plan_release_hold(plan=rng.choice(held), reason="back", today=self.today)
        elif action == "restore":
            plans = self.plans(PlanStatus.CANCELLED)
            if plans:
                plan_restore(plan=rng.choice(plans), reason="agreed", today=self.today)
        elif action == "scan":
            plans_cancel_expired(scan_date=self.today)
        elif action == "shares":
            plans = self.plans(PlanStatus.ACTIVE)
            if plans:
                plan_add_shares(plan=rng.choice(plans), shares=rng.randint(1, 5), today=self.today)
        else:
            self.today += rng.randint(1, 15) * DAY
        return action


@pytest.mark.parametrize("seed", range(6))
def test_the_stored_read_model_equals_a_fresh_aggregate_after_every_service(seed):
    replay = Replay(seed)
    seen = set()
    for step in range(70):
        action = replay.step()
        seen.add(action)
        assert stored() == recomputed(), f"after step {step} ({action}) of seed {seed}"
        assert kept() == kept_recomputed(business_today()), f"step {step} ({action}), {seed}"
    # The replay went through the services that change the model, not only some of them.
    assert {"create", "pay", "scan"} <= seen


def test_the_read_model_shows_the_most_urgent_active_plan_of_the_investor():
    investor = InvestorFactory()
    make_plan(investor=investor, first_due_date=dt.date(2025, 3, 10))
    make_plan(investor=investor, first_due_date=dt.date(2025, 2, 1))
    investor.refresh_from_db()
    assert investor.oldest_unpaid_due_date == dt.date(2025, 2, 1)
    assert investor.earliest_grace_deadline == dt.date(2025, 2, 20)


def test_a_hold_moves_the_earliest_grace_deadline_and_its_release_brings_it_back():
    investor = InvestorFactory()
    plan = make_plan(investor=investor, first_due_date=dt.date(2025, 3, 10))
    plan_hold(plan=plan, until=dt.date(2025, 5, 1), reason="x", today=dt.date(2025, 3, 12))
    investor.refresh_from_db()
    assert investor.earliest_grace_deadline == dt.date(2025, 5, 1)
    plan_release_hold(plan=plan, reason="y", today=dt.date(2025, 3, 13))
    investor.refresh_from_db()
    assert investor.earliest_grace_deadline == dt.date(2025, 3, 29)


def test_an_investor_whose_plans_are_all_cancelled_or_paid_has_no_read_model_values():
    investor = InvestorFactory()
    make_plan(investor=investor, first_due_date=dt.date(2025, 3, 10))
    plans_cancel_expired(scan_date=dt.date(2025, 3, 30))
    investor.refresh_from_db()
    assert (investor.oldest_unpaid_due_date, investor.earliest_grace_deadline) == (None, None)


def test_a_part_payment_that_leaves_the_oldest_unpaid_date_writes_no_investor_row():
    investor = InvestorFactory()
    plan = make_plan(investor=investor, first_due_date=dt.date(2025, 3, 10), price=Decimal("600"))
    changed = investor_overdue_refresh(investor_ids=[investor.pk])
    assert changed == 0
    payment_record(
        plan=plan,
        amount=Decimal("10.00"),
        received_on=dt.date(2025, 3, 10),
        reference="P1",
        today=dt.date(2025, 3, 10),
    )
    investor.refresh_from_db()
    assert investor.oldest_unpaid_due_date == dt.date(2025, 3, 10)


def test_a_payment_that_moves_the_read_model_rewrites_the_investor_row_once():
    """Both aggregates (the plans' dates and prices, the installments' kept amount) land in
    one UPDATE: the row and each of its index entries are written once, not once each."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    investor = InvestorFactory()
    plan = make_plan(investor=investor, first_due_date=dt.date(2025, 3, 10), price=Decimal("600"))
    due = plan.installments.order_by("due_date").first()
    with CaptureQueriesContext(connection) as queries:
        payment_record(
            plan=plan,
            amount=due.amount,
            received_on=dt.date(2025, 3, 10),
            reference="P1",
            today=dt.date(2025, 3, 10),
        )
    writes = [q["sql"] for q in queries if q["sql"].startswith("UPDATE clients_investor")]
    assert len(writes) == 1, writes
    investor.refresh_from_db()
    assert investor.oldest_unpaid_due_date == dt.date(2025, 4, 10)
    assert stored() == recomputed()
    assert kept() == kept_recomputed(business_today())


def test_a_refresh_of_more_investors_than_one_statement_takes_writes_every_one(monkeypatch):
    """The refresh rewrites its investors `REFRESH_BATCH` at a time: every batch is written,
    the last short one too, and the investors outside the list are left as they are."""
    from installments import read_model

    monkeypatch.setattr(read_model, "REFRESH_BATCH", 2)
    investors = [InvestorFactory() for _ in range(6)]
    for investor in investors:
        make_plan(investor=investor, first_due_date=dt.date(2025, 3, 10))
    Investor.objects.update(oldest_unpaid_due_date=None, earliest_grace_deadline=None)
    named, left = investors[:5], investors[5]
    assert investor_overdue_refresh(investor_ids=[i.pk for i in named]) == 5
    truth = recomputed()
    assert {i.pk: stored()[i.pk] for i in named} == {i.pk: truth[i.pk] for i in named}
    left.refresh_from_db()
    assert left.oldest_unpaid_due_date is None


@pytest.mark.parametrize("count", [1, 3, 40])
def test_the_refresh_compiled_once_is_the_orms_own_statement_for_any_ids_and_day(count):
    """The read model's UPDATE is compiled once per number of investors, then bound: for
    other ids and other days it is the statement the ORM compiles for them."""
    from installments import read_model

    rng = random.Random(count)
    for _ in range(5):
        ids = rng.sample(range(1, 10**9), count)
        day = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(4000))
        assert read_model._compiled_overdue_statement(ids, day) == read_model._overdue_statement(
            ids, day
        )


def test_the_refresh_reads_the_plans_of_the_named_investors_alone():
    """The plans are joined with the investors' ids in the join's condition too, so that
    PostgreSQL reads them by the investor index instead of scanning every plan."""
    from installments import read_model

    for aggregate in (read_model._investor_plans_aggregate, read_model._investor_amount_aggregate):
        sql, params = aggregate([7001, 7002])
        assert params.count(7001) == params.count(7002) == 2, sql


def test_a_refresh_compiles_its_statement_once_per_number_of_investors(monkeypatch):
    from installments import read_model

    monkeypatch.setattr(read_model, "_COMPILED", {})
    compiled = []
    original = read_model._overdue_statement
    monkeypatch.setattr(
        read_model, "_overdue_statement", lambda *a: compiled.append(a) or original(*a)
    )
    first, second = InvestorFactory(), InvestorFactory()
    make_plan(investor=first, first_due_date=dt.date(2025, 3, 10))
    make_plan(investor=second, first_due_date=dt.date(2025, 3, 11))
    compiled.clear()
    Investor.objects.update(oldest_unpaid_due_date=None)
    investor_overdue_refresh(investor_ids=[first.pk])
    investor_overdue_refresh(investor_ids=[second.pk])
    assert compiled == []  # compiled when the plans were bought, for one investor
    assert stored() == recomputed()


def test_refreshing_every_investor_repairs_a_read_model_written_behind_its_back():
    investor = InvestorFactory()
    make_plan(investor=investor, first_due_date=dt.date(2025, 3, 10))
    Investor.objects.filter(pk=investor.pk).update(
        oldest_unpaid_due_date=None, earliest_grace_deadline=None, plans_price=ZERO
    )
    assert investor_overdue_refresh_all() == 1
    assert stored() == recomputed()


def test_kept_amounts_that_no_longer_hold_are_renewed_for_the_day_asked():
    today = business_today()
    late, paying = InvestorFactory(), InvestorFactory()
    make_plan(investor=late, first_due_date=today - 10 * DAY, price=Decimal("600"))
    make_plan(investor=paying, first_due_date=today + 100 * DAY, price=Decimal("600"))
    # 25 days on, the late client's next installment has fallen due: the amount kept today
    # no longer holds, and readers would sum the installments instead.
    later = today + 25 * DAY
    before = kept()[late.pk][0]
    holding = Investor.objects.filter(overdue.kept_amount_holds(later))
    assert set(holding.values_list("pk", flat=True)) == {paying.pk}
    assert kept_amounts_renew(today=later) == 1
    assert kept()[late.pk] == kept_recomputed(later)[late.pk]
    assert kept()[late.pk][0] > before  # the installment that fell due is owed too
    assert set(holding.values_list("pk", flat=True)) == {late.pk, paying.pk}
    assert kept_amounts_renew(today=later) == 0
