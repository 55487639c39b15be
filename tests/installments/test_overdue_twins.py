"""Each SQL twin in `installments.overdue` equals its pure rule in `installments.rules`, over
random plans and dates: what a list filters and sorts on in the database is what the rules
say. Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clients.models import Investor
from installments import overdue, rules
from installments.models import Plan, PlanStatus
from installments.read_model import investors_with_overdue, plans_changing, with_overdue_amount
from tests.factories import InvestorFactory, PackageFactory, make_plan

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 5, 15)
DAY = dt.timedelta(days=1)

offsets = st.one_of(st.none(), st.integers(min_value=-40, max_value=40))
plan_shapes = st.fixed_dictionaries(
    {
        "first_due": st.integers(min_value=-150, max_value=40),
        "count": st.integers(min_value=1, max_value=6),
        "price": st.decimals(min_value=Decimal("1.00"), max_value=Decimal("9000"), places=2),
        "paid_whole": st.integers(min_value=0, max_value=6),
        "paid_part": st.decimals(min_value=Decimal("0"), max_value=Decimal("0.99"), places=2),
        "hold": offsets,
        "extended": offsets,
        "status": st.sampled_from(PlanStatus.values),
        "investor": st.integers(min_value=0, max_value=2),
    }
)
days = st.integers(min_value=-30, max_value=60)


def noon(day: dt.date) -> dt.datetime:
    """Noon of `day` in UTC: the same business day in the business time zone."""
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def shape(first_due: int, **changes) -> dict:
    """A plan shape for the boundary examples: active, nothing paid, no hold."""
    return {
        "first_due": first_due,
        "count": 3,
        "price": Decimal("900.00"),
        "paid_whole": 0,
        "paid_part": Decimal("0"),
        "hold": None,
        "extended": None,
        "status": PlanStatus.ACTIVE,
        "investor": 0,
    } | changes


def _build(shape: dict, investors: list[Investor]) -> Plan:
    """A plan of `shape`: some installments paid whole, the next one in part."""
    plan = make_plan(
        investor=investors[shape["investor"]],
        package=PackageFactory(installment_count=shape["count"], price=shape["price"]),
        first_due_date=TODAY + shape["first_due"] * DAY,
    )
    installments = list(plan.installments.order_by("number"))
    for installment in installments[: shape["paid_whole"]]:
        installment.paid_amount, installment.paid_on = installment.amount, installment.due_date
    unpaid = [i for i in installments if i.paid_on is None]
    if unpaid:
        unpaid[0].paid_amount = min(shape["paid_part"], unpaid[0].amount - Decimal("0.01"))
    with plans_changing() as changes:
        plan = changes.lock(plan)
        for installment in installments:
            installment.save(update_fields=["paid_amount", "paid_on"])
        plan.oldest_unpaid_due_date = unpaid[0].due_date if unpaid else None
        plan.hold_until = None if shape["hold"] is None else TODAY + shape["hold"] * DAY
        plan.grace_extended_to = (
            None if shape["extended"] is None else TODAY + shape["extended"] * DAY
        )
        plan.status = shape["status"] if unpaid else PlanStatus.COMPLETED
        plan.save()
    return plan


def _expected(plan: Plan, today: dt.date) -> dict:
    """The plan's overdue state on `today` by the pure rules alone."""
    outstanding = [
        rules.Outstanding(key=i.pk, due_date=i.due_date, unpaid=i.unpaid)
        for i in plan.installments.filter(paid_on__isnull=True)
    ]
    active = plan.status == PlanStatus.ACTIVE
    oldest = plan.oldest_unpaid_due_date
    is_overdue = active and oldest is not None and rules.is_overdue(oldest, today)
    deadline = (
        rules.grace_deadline(oldest, hold_until=plan.hold_until, extended_to=plan.grace_extended_to)
        if oldest is not None
        else None
    )
    return {
        "overdue": is_overdue,
        "overdue_amount": rules.overdue_amount(outstanding, today) if active else rules.ZERO,
        "grace_deadline": deadline if is_overdue else None,
        "days_left": rules.days_left(deadline, today) if is_overdue else None,
        "last_days": is_overdue and rules.in_last_days(deadline, today),
        "cancelled_by_scan": active
        and deadline is not None
        and rules.scan_cancels(deadline, today),
    }


def _expected_bucket(investor: Investor, plans: list[Plan], today: dt.date) -> str | None:
    """The investor's overdue bucket by the pure rules: days since the oldest overdue due
    date, days left to the most urgent overdue plan's deadline."""
    late = [p for p in plans if p.investor_id == investor.pk and _expected(p, today)["overdue"]]
    if not late:
        return None
    oldest = min(p.oldest_unpaid_due_date for p in late)
    deadline = min(_expected(p, today)["grace_deadline"] for p in late)
    return rules.bucket_of(
        days_overdue=rules.days_overdue(oldest, today), days_left=rules.days_left(deadline, today)
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    shapes=st.lists(plan_shapes, min_size=1, max_size=6),
    shift=days,
    # The business day of the last write: the read model keeps the overdue amount with the
    # days around it that it holds for, and the Structure reads it on `today`.
    written=st.one_of(st.none(), days),
)
# The boundaries random dates rarely hit: an installment due today on an overdue plan (not
# yet overdue itself); days left of LAST_DAYS and one more; the grace deadline itself and
# the day after it; a hold ending on the deadline's day.
@example(shapes=[shape(-30)], shift=0, written=None)
@example(shapes=[shape(-16), shape(-15, investor=1)], shift=0, written=None)
@example(shapes=[shape(-19), shape(-20, investor=1)], shift=0, written=None)
@example(shapes=[shape(-25, hold=0), shape(-25, extended=1, investor=1)], shift=0, written=None)
# The buckets' edges: 7 and 8, 14 and 15 days overdue; held past the grace days.
@example(shapes=[shape(-7), shape(-8, investor=1), shape(-14, investor=2)], shift=0, written=None)
@example(
    shapes=[shape(-15), shape(-30, hold=2, investor=1), shape(-1, investor=2)],
    shift=0,
    written=None,
)
# The kept overdue amount: written when the next installment was not yet overdue and read
# after it is (the span has ended), and written after the reading day.
@example(shapes=[shape(-45, count=6)], shift=0, written=-20)
@example(shapes=[shape(-45, count=6)], shift=0, written=20)
# Read on the due date of the latest installment overdue when written: not yet overdue then.
@example(shapes=[shape(-45, count=6)], shift=-15, written=0)
# Read the day after the next due date when written: that installment has fallen overdue.
@example(shapes=[shape(-45, count=6)], shift=-14, written=-20)
def test_every_sql_twin_equals_its_rule_on_random_plans_and_dates(shapes, shift, written):
    today = TODAY + shift * DAY
    written_on = today if written is None else TODAY + written * DAY
    with transaction.atomic():
        with time_machine.travel(noon(written_on), tick=False):
            investors = [InvestorFactory() for _ in range(3)]
            plans = [_build(shape, investors) for shape in shapes]
        annotated = {
            plan.pk: plan
            for plan in Plan.objects.filter(pk__in=[p.pk for p in plans]).with_overdue(today)
        }
        last_days = set(
            Plan.objects.with_overdue(today)
            .filter(overdue=True)
            .filter(overdue.in_last_days(today))
            .values_list("pk", flat=True)
        )
        cancelled = set(Plan.objects.past_grace(today).values_list("pk", flat=True))
        for plan in plans:
            plan.refresh_from_db()
            row = annotated[plan.pk]
            got = {
                "overdue": row.overdue,
                "overdue_amount": Decimal(row.overdue_amount).quantize(rules.CENT),
                "grace_deadline": row.grace_deadline,
                "days_left": row.days_left,
                "last_days": plan.pk in last_days,
                "cancelled_by_scan": plan.pk in cancelled,
            }
            assert got == _expected(plan, today), plan

        # The investors' read model: the most urgent overdue plan, the amounts summed.
        mine = Investor.objects.filter(pk__in=[i.pk for i in investors])
        rows = with_overdue_amount(investors_with_overdue(mine, today=today), today=today).annotate(
            bucket=overdue.bucket(today)
        )
        # The Structure's `bucket` filter lists exactly the investors of each bucket.
        buckets_by_filter = {
            pk: name
            for name in rules.BUCKETS
            for pk in mine.filter(overdue.in_bucket(name, today)).values_list("pk", flat=True)
        }
        for investor in rows:
            mine = [_expected(p, today) for p in plans if p.investor_id == investor.pk]
            late = [e for e in mine if e["overdue"]]
            assert investor.overdue == bool(late)
            assert investor.grace_deadline == min((e["grace_deadline"] for e in late), default=None)
            assert Decimal(investor.overdue_amount).quantize(rules.CENT) == sum(
                (e["overdue_amount"] for e in late), rules.ZERO
            )
            assert investor.bucket == _expected_bucket(investor, plans, today), investor
            assert buckets_by_filter.get(investor.pk) == investor.bucket
        transaction.set_rollback(True)
