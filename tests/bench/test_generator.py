"""The benchmark's portfolio is what the services would have written, and the harness writes
every figure. Tiny scale; timings are never asserted."""

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.db.models import Max, Sum

from bench import generate, run
from bench.scale import SCALES
from clients.models import Investor, path_step
from clients.services import investor_create
from installments import rules
from installments.models import (
    Allocation,
    Installment,
    Payment,
    Plan,
    PlanStatus,
    ShareLedgerEntry,
)
from installments.read_model import investor_overdue_refresh_all, investors_with_overdue
from installments.services import plans_cancel_expired, plans_to_cancel
from tests.reminders.conftest import (
    own_redis,  # noqa: F401  (a Redis of the test's own)
    seed_defaults,
)

pytestmark = pytest.mark.postgres

TINY = SCALES["tiny"]
# A month end: the schedule's clamp to shorter months is exercised.
TODAY = dt.date(2026, 3, 31)
DAY = dt.timedelta(days=1)


@pytest.fixture
def portfolio(db):
    return generate.load_portfolio(scale=TINY, today=TODAY)


def refreshed_on_the_portfolio_s_day() -> int:
    """The read model recomputed by the services on TODAY (the kept overdue amount's days are
    taken around the business day): the rows it changed."""
    with time_machine.travel(dt.datetime.combine(TODAY, dt.time(12), tzinfo=dt.UTC), tick=False):
        return investor_overdue_refresh_all()


def _expected_tonight() -> int:
    share, minimum = generate.SCENARIOS["past_deadline"]
    return max(minimum, round(TINY.plans * share))


def _assert_paths_follow_the_sponsor_chain():
    by_id = {i.pk: i for i in Investor.objects.all()}
    for investor in by_id.values():
        sponsor = by_id.get(investor.sponsor_id)
        assert investor.path == (sponsor.path if sponsor else "") + path_step(investor.pk)
        assert investor.depth == (sponsor.depth + 1 if sponsor else 1)


def test_the_investors_read_model_is_what_the_services_would_have_written(portfolio):
    assert Investor.objects.filter(oldest_unpaid_due_date__lt=TODAY).exists()
    assert Investor.objects.filter(oldest_unpaid_due_date__isnull=True).exists()
    # Recomputing it from the plans on the portfolio's day changes no row.
    assert refreshed_on_the_portfolio_s_day() == 0


def test_every_path_is_the_sponsor_path_followed_by_the_investor_own_step(portfolio):
    assert Investor.objects.count() == TINY.investors
    _assert_paths_follow_the_sponsor_chain()


def test_the_top_participant_structure_has_its_size_and_depth(portfolio):
    top = Investor.objects.get(pk=portfolio["top_investor"])
    assert top.user is not None
    structure = Investor.objects.in_structure_of(top).with_level(top)
    assert structure.count() == TINY.structure == portfolio["structure_size"]
    assert structure.aggregate(deepest=Max("level"))["deepest"] >= 60


def _replayed_ledger(plan: Plan, payments: list[Payment]) -> list[tuple[str, int]]:
    """The credits payment_record would have written for these payments, in order."""
    entries, paid, credited = [], Decimal("0.00"), 0
    for payment in payments:
        credit = rules.shares_for_payment(
            shares=plan.shares,
            final_fraction=plan.final_payment_fraction,
            price=plan.price,
            paid_before=paid,
            paid_after=paid + payment.amount,
            base_credited=credited,
        )
        paid += payment.amount
        for kind, shares in (("progressive", credit.progressive), ("final", credit.final)):
            if shares:
                entries.append((kind, shares))
                credited += shares
    return entries


def test_installments_payments_and_ledger_are_what_the_services_would_have_written(portfolio):
    installments = defaultdict(list)
    for i in Installment.objects.order_by("plan_id", "number"):
        installments[i.plan_id].append(i)
    allocated = defaultdict(Decimal)
    for a in Allocation.objects.all():
        allocated[a.installment_id] += a.amount
    payments = defaultdict(list)
    for p in Payment.objects.annotate(allocated=Sum("allocations__amount")).order_by(
        "received_on", "id"
    ):
        assert p.allocated == p.amount
        assert p.received_on < TODAY
        payments[p.plan_id].append(p)
    ledger = defaultdict(list)
    for entry in ShareLedgerEntry.objects.order_by("id"):
        ledger[entry.plan_id].append((entry.kind, entry.shares))

    plans = list(Plan.objects.select_related("package"))
    assert len(plans) == TINY.plans
    for plan in plans:
        rows = installments[plan.pk]
        expected = rules.schedule(
            price=plan.price,
            count=plan.package.installment_count,
            first_due_date=plan.first_due_date,
        )
        assert [(i.number, i.due_date, i.amount) for i in rows] == [
            (s.number, s.due_date, s.amount) for s in expected
        ]
        paid = [i for i in rows if i.paid_on is not None]
        unpaid = rows[len(paid) :]
        assert all(i.paid_on is None for i in unpaid), "paid oldest first"
        assert all(i.paid_amount == i.amount for i in paid)
        assert all(i.paid_on <= i.due_date + rules.GRACE_DAYS * DAY for i in paid)
        assert all(i.paid_amount == 0 for i in unpaid[1:])
        if unpaid:
            assert 0 <= unpaid[0].paid_amount < unpaid[0].amount
        for i in rows:
            assert allocated[i.pk] == i.paid_amount
        assert plan.oldest_unpaid_due_date == (unpaid[0].due_date if unpaid else None)
        assert (plan.status == PlanStatus.COMPLETED) == (not unpaid)
        assert plan.completed_on == (paid[-1].paid_on if not unpaid else None)
        assert ledger[plan.pk] == _replayed_ledger(plan, payments[plan.pk])
        if plan.status == PlanStatus.CANCELLED:
            assert plan.cancelled_on == plan.oldest_unpaid_due_date + (rules.GRACE_DAYS + 1) * DAY
            assert plan.cancelled_on < TODAY
        elif plan.status == PlanStatus.ACTIVE:
            deadline = rules.grace_deadline(
                plan.oldest_unpaid_due_date,
                hold_until=plan.hold_until,
                extended_to=plan.grace_extended_to,
            )
            assert deadline >= TODAY - DAY, "last night's scan would have cancelled it"


def test_every_plan_state_and_every_number_of_days_left_is_present(portfolio):
    assert set(Plan.objects.values_list("status", flat=True)) == set(PlanStatus.values)
    assert Plan.objects.on_hold(TODAY).exists()
    assert Plan.objects.filter(status=PlanStatus.ACTIVE, grace_extended_to__gte=TODAY).exists()
    assert Installment.objects.filter(paid_on__isnull=True, paid_amount__gt=0).exists()
    overdue = Plan.objects.with_overdue(TODAY).filter(overdue=True)
    assert set(overdue.values_list("days_left", flat=True)) >= {-1, *range(rules.GRACE_DAYS)}
    on_track = Plan.objects.with_overdue(TODAY).filter(status=PlanStatus.ACTIVE, overdue=False)
    assert on_track.filter(oldest_unpaid_due_date=TODAY).exists()
    assert on_track.filter(oldest_unpaid_due_date=TODAY + 3 * DAY).exists()


def test_tonight_scan_cancels_the_day_cohort_once(portfolio):
    candidates = list(plans_to_cancel(TODAY))
    assert len(candidates) == _expected_tonight()
    assert {p.oldest_unpaid_due_date for p in candidates} == {TODAY - (rules.GRACE_DAYS + 1) * DAY}
    assert len(plans_cancel_expired(scan_date=TODAY)) == _expected_tonight()
    assert plans_cancel_expired(scan_date=TODAY) == []


def test_a_new_portfolio_starts_with_no_scan_run_and_an_empty_outbox(portfolio):
    from reminders.models import Reminder, ScanRun

    plan = Plan.objects.filter(status=PlanStatus.ACTIVE).first()
    run = ScanRun.objects.create(scan_date=TODAY - DAY, trigger="bench")
    Reminder.objects.create(
        recipient=plan.investor,
        plan=plan,
        kind="overdue",
        channel="email",
        queued_on=TODAY - DAY,
        scheduled_for=dt.datetime(2026, 3, 30, 12, tzinfo=dt.UTC),
        scan_run=run,
    )
    generate.load_portfolio(scale=TINY, today=TODAY)
    # A run of "last night" left over a new portfolio would claim reminders it no longer has.
    assert not ScanRun.objects.exists()
    assert not Reminder.objects.exists()


def test_sequences_continue_after_the_loaded_ids(portfolio):
    investor = investor_create(name="After the load", sponsor=Investor.objects.get(pk=1))
    assert investor.pk == TINY.investors + 1


def test_the_tenfold_copy_adds_inert_history_and_keeps_tonight_s_work(portfolio):
    top = Investor.objects.get(pk=portfolio["top_investor"])
    overdue_clients = (
        investors_with_overdue(Investor.objects.in_structure_of(top), today=TODAY)
        .filter(overdue=True)
        .count()
    )
    grown = generate.grow(factor=3, today=TODAY)

    assert grown["counts"] == {
        "clients_investor": 3 * TINY.investors,
        "installments_plan": 3 * TINY.plans,
        "installments_installment": 3 * portfolio["counts"]["installments_installment"],
    }
    _assert_paths_follow_the_sponsor_chain()
    assert Investor.objects.in_structure_of(top).count() == TINY.structure
    assert (
        investors_with_overdue(Investor.objects.in_structure_of(top), today=TODAY)
        .filter(overdue=True)
        .count()
        == overdue_clients
    )
    assert len(list(plans_to_cancel(TODAY))) == _expected_tonight()
    copies = Plan.objects.filter(pk__gt=TINY.plans)
    # Inert: no clone is active, so none is overdue or on a reminder step's day tonight.
    assert copies.filter(status=PlanStatus.COMPLETED).exists()
    assert not copies.filter(status=PlanStatus.ACTIVE).exists()
    assert not copies.filter(cancelled_on__gte=TODAY - dt.timedelta(days=30)).exists()
    settled = copies.filter(status=PlanStatus.COMPLETED, installments__paid_on__isnull=True)
    assert not settled.exists()
    assert not Investor.objects.filter(
        pk__gt=TINY.investors, oldest_unpaid_due_date__isnull=False
    ).exists()
    assert refreshed_on_the_portfolio_s_day() == 0


def _server_url() -> str:
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"


def _databases_named(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


@pytest.mark.django_db(transaction=True)
def test_the_harness_writes_every_figure(tmp_path, monkeypatch, own_redis):  # noqa: F811
    # reminders_per_second publishes to a broker, and the delivery and the scan scaled out
    # start workers on it: a redis-server of this test's own.
    monkeypatch.setenv("BENCH_BROKER_URL", own_redis.url)
    # The cadence the delivery's rows follow (an earlier transactional test's flush removed
    # the migrations' rows).
    seed_defaults()
    database = connection.settings_dict["NAME"]
    connection.close()  # the 10x copy is made from this database as a template

    figures = run.run(
        scale_name="tiny",
        server=_server_url(),
        database=database,
        keep_size_copy=False,
        out=tmp_path / "last.json",
    )

    written = json.loads((tmp_path / "last.json").read_text())
    assert written == figures
    assert list(written) == list(run.KEYS)
    for key in run.KEYS:
        assert isinstance(written[key], int | float) and written[key] > 0, key
    report = (tmp_path / "last-report.txt").read_text()
    assert "rescan wrote 0 rows" in report
    assert "handed to the broker" in report
    # Delivery: one worker, then two, every reminder sent through the fake gateway.
    assert figures["delivery_scaling"] == pytest.approx(
        figures["delivery_per_second_2"] / figures["delivery_per_second_1"], rel=0.01
    )
    assert "SMS reminders to a fake gateway" in report
    # The scan scaled out: one line per number of workers, each run closed by its chunks.
    for count in TINY.scale_out_workers:
        assert f"scan with {count} worker(s): " in report
    assert not _databases_named(f"{database}_scaleout")
    assert "=== scan floor" in (tmp_path / "last-explain.txt").read_text()
