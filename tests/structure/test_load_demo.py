import dataclasses
import datetime as dt
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Max, Sum

from clients.models import Investor
from installments import rules
from installments.models import (
    BONUS_KINDS,
    CreditKind,
    Installment,
    Package,
    Payment,
    Plan,
    PlanEvent,
    PlanEventKind,
    PlanStatus,
    Promotion,
    PurchaseStage,
    ShareLedgerEntry,
)
from installments.read_model import investors_with_overdue
from structure import demo
from structure.management.commands.load_demo import load_portfolio
from structure.models import ContactLogEntry

# A month end after a short month: where the schedule's day clamping is at its trickiest.
TODAY = dt.date(2027, 3, 31)
DAY = dt.timedelta(days=1)


def frozen(day: dt.date):
    """10:00 business time on `day`: the command computes "today" from the clock."""
    moment = dt.datetime.combine(day, dt.time(10), ZoneInfo("Asia/Kolkata"))
    return time_machine.travel(moment, tick=False)


def load_demo(*args: str) -> str:
    out = StringIO()
    call_command("load_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def row_counts() -> dict[str, int]:
    models = (Investor, Plan, Installment, Payment, ShareLedgerEntry, PlanEvent)
    models += (Package, Promotion, PurchaseStage, get_user_model(), ContactLogEntry)
    return {model.__name__: model.objects.count() for model in models}


def observed_scenario(plan: Plan, today: dt.date, bonuses: set, events: set) -> str:
    """What a plan is on `today`, in the words of `demo.Scenario`, read from the database."""
    if plan.status == PlanStatus.CANCELLED:
        return "cancelled"
    if plan.status == PlanStatus.COMPLETED:
        if CreditKind.EARLY_REPAYMENT_BONUS in bonuses:
            return "completed_early"
        kinds = {
            frozenset(): "completed_late",
            frozenset({CreditKind.ON_TIME_BONUS}): "completed_on_time",
            frozenset({CreditKind.DOUBLE_PAYMENT_BONUS}): "completed_double",
        }
        return kinds.get(frozenset(bonuses), f"completed with {sorted(bonuses)}")
    if PlanEventKind.AUTO_RESTORED in events:
        return "auto_restored"
    if PlanEventKind.RESTORED in events:
        return "restored" if plan.overdue else "restored_paid"
    if plan.is_on_hold(today):
        return "on_hold"
    if plan.overdue:
        return "overdue" if plan.days_left >= 0 else "past_deadline"
    return "due_soon" if plan.oldest_unpaid_due_date <= today + 3 * DAY else "on_track"


def by_plan(queryset) -> dict[int, set]:
    found: dict[int, set] = {}
    for plan_id, kind in queryset.values_list("plan_id", "kind"):
        found.setdefault(plan_id, set()).add(kind)
    return found


def oldest_unpaid_after(plan: demo.PlanSpec, payments) -> dt.date | None:
    """The pure rules' answer: allocate the payments over the schedule, oldest first."""
    package = next(p for p in demo.PACKAGES if p.name == plan.package)
    schedule = rules.schedule(
        price=package.price, count=package.installment_count, first_due_date=plan.first_due_date
    )
    owed = {i.number: i.amount for i in schedule}
    due = {i.number: i.due_date for i in schedule}
    for payment in payments:
        outstanding = [rules.Outstanding(n, due[n], owed[n]) for n in owed if owed[n]]
        for number, portion in rules.allocate(payment.amount, outstanding):
            owed[number] -= portion
    return min((due[n] for n in owed if owed[n]), default=None)


# ---------------------------------------------------------------------------- the blueprint


def test_the_same_seed_on_the_same_day_builds_the_same_portfolio():
    first = demo.build_portfolio(seed=7, investors=50, today=TODAY)
    again = demo.build_portfolio(seed=7, investors=50, today=TODAY)
    other = demo.build_portfolio(seed=8, investors=50, today=TODAY)

    assert dataclasses.asdict(first) == dataclasses.asdict(again)
    assert dataclasses.asdict(first) != dataclasses.asdict(other)


def test_every_day_of_a_leap_year_gives_plans_that_keep_to_their_scenario_and_to_time():
    """Month ends, the leap day, the new year: purchases under a stage, no payment before the
    purchase or after today, and each scenario's oldest unpaid due date where it belongs."""
    day = dt.date(2028, 1, 1)
    while day.year == 2028:
        portfolio = demo.build_portfolio(seed=day.toordinal(), investors=30, today=day)
        first_stage = min(stage.starts_on for stage in portfolio.stages)
        for plan in portfolio.plans:
            payments = plan.payments + plan.late_payments + plan.after_restore
            received = [p.received_on for p in plan.payments]
            assert first_stage <= plan.purchased_on <= day, (day, plan)
            assert received == sorted(received), (day, plan)
            assert all(plan.purchased_on <= p.received_on <= day for p in payments), (day, plan)
            assert plan.hold is None or plan.hold[0] >= day
            oldest = oldest_unpaid_after(plan, plan.payments)
            days_left = None if oldest is None else (oldest - day).days + rules.GRACE_DAYS
            match plan.scenario:
                case "on_track":
                    assert oldest > day + 3 * DAY, (day, plan)
                case "due_soon":
                    assert day <= oldest <= day + 3 * DAY, (day, plan)
                case "overdue":
                    assert 0 <= days_left <= 18, (day, plan)
                case "past_deadline":
                    assert -demo.SCAN_PAUSE_DAYS < days_left < 0, (day, plan)
                case "cancelled" | "restored" | "restored_paid" | "auto_restored":
                    assert plan.cancel_scan == oldest + (rules.GRACE_DAYS + 1) * DAY, (day, plan)
                case scenario if scenario.startswith("completed"):
                    assert oldest is None, (day, plan)
        assert max(portfolio.scan_dates) <= day - demo.SCAN_PAUSE_DAYS * DAY
        day += DAY


def test_a_small_portfolio_still_has_one_plan_of_every_scenario():
    portfolio = demo.build_portfolio(seed=1, investors=20, today=TODAY)

    assert {plan.scenario for plan in portfolio.plans} == set(demo.Scenario)


# ---------------------------------------------------------------------------- the command


@pytest.mark.django_db
def test_the_demo_has_deep_structures_logins_and_plans_in_every_state():
    with frozen(TODAY):
        output = load_demo("--investors", "60", "--seed", "11")

    User = get_user_model()
    admin = User.objects.get(username=demo.ADMIN_USERNAME)
    assert admin.is_superuser and admin.check_password(demo.ADMIN_PASSWORD)
    for participant in demo.PARTICIPANTS:
        investor = Investor.objects.get(user__username=participant.username)
        assert investor.user.check_password(demo.PARTICIPANT_PASSWORD)
        assert investor.sponsor is None
    assert Investor.objects.count() == 60 + len(demo.PARTICIPANTS)
    priya = Investor.objects.get(user__username=demo.DEMO_PARTICIPANT)
    structure = Investor.objects.in_structure_of(priya)
    assert structure.aggregate(deepest=Max("depth"))["deepest"] - priya.depth >= 8
    assert {i.language for i in Investor.objects.all()} == {"en", "hi", "ne"}
    assert Investor.objects.filter(phone__startswith="+97798").exists()
    assert Investor.objects.filter(phone__regex=r"^\+91[6-9]\d{9}$").exists()

    overdue = Plan.objects.with_overdue(TODAY).filter(overdue=True, hold_until__isnull=True)
    days_left = set(overdue.values_list("days_left", flat=True))
    assert len({d for d in days_left if d >= 0}) >= 5
    assert any(d < 0 for d in days_left)  # past the deadline, the scan not run since
    assert Plan.objects.on_hold(TODAY).exclude(hold_reason="").exists()
    assert Plan.objects.filter(status=PlanStatus.CANCELLED).exists()
    assert Plan.objects.filter(status=PlanStatus.COMPLETED).exists()
    on_track = Plan.objects.with_overdue(TODAY).filter(
        status=PlanStatus.ACTIVE, overdue=False, oldest_unpaid_due_date__gt=TODAY + 3 * DAY
    )
    assert on_track.exists()
    assert Installment.objects.unpaid().filter(paid_amount__gt=0).exists()  # partly paid
    bonus_kinds = set(ShareLedgerEntry.objects.filter(kind__in=BONUS_KINDS).values_list("kind"))
    assert bonus_kinds == {(kind.value,) for kind in BONUS_KINDS}
    assert PlanEvent.objects.filter(kind=PlanEventKind.RESTORED).exclude(reason="").exists()
    assert PlanEvent.objects.filter(kind=PlanEventKind.AUTO_RESTORED).exists()
    priya_overdue = investors_with_overdue(structure, today=TODAY).filter(overdue=True)
    assert len(set(priya_overdue.values_list("days_left", flat=True))) >= 5

    for plan in Plan.objects.annotate(total=Sum("installments__amount")):
        assert plan.total == plan.price
    assert Payment.objects.filter(reference__startswith=demo.REFERENCE_PREFIX).count() == (
        Payment.objects.count()
    )
    assert "/structure/  user priya / password demo-participant-2026" in output
    assert "/admin/  user admin / password demo-admin-2026" in output
    assert f"Contact log:  {ContactLogEntry.objects.count()} entries; promises kept" in output


@pytest.mark.django_db
@pytest.mark.parametrize("today", [TODAY, dt.date(2028, 2, 29), dt.date(2027, 1, 1)])
def test_every_plan_ends_in_the_state_its_scenario_describes(today):
    portfolio = demo.build_portfolio(seed=today.toordinal(), investors=30, today=today)

    intended = load_portfolio(portfolio)

    bonuses = by_plan(ShareLedgerEntry.objects.filter(kind__in=BONUS_KINDS))
    events = by_plan(PlanEvent.objects.all())
    plans = {plan.pk: plan for plan in Plan.objects.with_overdue(today)}
    observed = {
        pk: observed_scenario(plan, today, bonuses.get(pk, set()), events.get(pk, set()))
        for pk, plan in plans.items()
    }
    assert observed == intended
    for pk, scenario in intended.items():
        plan = plans[pk]
        if scenario == "restored":  # a fresh window from today
            assert plan.days_left == rules.GRACE_DAYS
        if scenario == "on_hold":  # no cancellation before the hold ends
            natural = plan.oldest_unpaid_due_date + rules.GRACE_DAYS * DAY
            assert plan.days_left == (max(natural, plan.hold_until) - today).days
        if scenario == "cancelled":  # by the nightly scan the day after the grace deadline
            deadline = plan.oldest_unpaid_due_date + rules.GRACE_DAYS * DAY
            assert plan.cancelled_on == deadline + DAY
        if plan.status == PlanStatus.COMPLETED:
            credited = plan.ledger.exclude(kind__in=BONUS_KINDS).aggregate(s=Sum("shares"))["s"]
            assert credited == plan.shares
        paid = plan.installments.aggregate(s=Sum("paid_amount"))["s"]
        assert paid == sum((p.amount for p in plan.payments.all()), Decimal("0"))


@pytest.mark.django_db
def test_a_second_run_finds_the_demo_loaded_and_changes_nothing():
    with frozen(TODAY):
        load_demo("--investors", "20")
        before = row_counts()
        output = load_demo("--investors", "20")

    assert "already loaded" in output
    assert "user priya / password demo-participant-2026" in output
    assert before["ContactLogEntry"] > 0
    assert row_counts() == before


@pytest.mark.django_db
def test_reset_deletes_the_demo_and_loads_the_same_portfolio_again():
    with frozen(TODAY):
        load_demo("--investors", "15", "--seed", "5")
        before = row_counts()
        names = sorted(Investor.objects.values_list("name", "phone"))
        output = load_demo("--investors", "15", "--seed", "5", "--reset")

    assert "Deleted the demo data (18 investors)" in output
    assert row_counts() == before
    assert sorted(Investor.objects.values_list("name", "phone")) == names


@pytest.mark.django_db
def test_an_admin_login_that_exists_already_is_left_as_it_is():
    User = get_user_model()
    User.objects.create_user("admin", "ops@example.com", "their-own-password-1")

    with frozen(TODAY):
        load_demo("--investors", "5")

    admin = User.objects.get(username="admin")
    assert admin.check_password("their-own-password-1") and not admin.is_superuser
    assert Payment.objects.filter(recorded_by__isnull=False).count() == 0


@pytest.mark.parametrize("value", ["0", "-5", "20001"])
def test_an_investor_count_out_of_range_is_refused_with_a_clear_message(value):
    with pytest.raises(CommandError, match=r"--investors must be a whole number from 1 to"):
        load_demo("--investors", value)


def test_an_investor_count_that_is_not_a_number_is_refused():
    with pytest.raises(CommandError, match="invalid int value: 'many'"):
        load_demo("--investors", "many")


@pytest.mark.django_db
def test_the_demo_prints_an_investor_login_and_leaves_open_help_requests():
    from installments.read_model import investors_with_overdue
    from structure.models import HelpRequest

    with frozen(TODAY):
        output = load_demo("--investors", "60", "--seed", "11")

    investor = Investor.objects.get(login__username=demo.INVESTOR_USERNAME)
    assert investor.login.check_password(demo.INVESTOR_PASSWORD)
    assert not investor.is_participant
    assert f"user {demo.INVESTOR_USERNAME} / password {demo.INVESTOR_PASSWORD}" in output
    priya = Investor.objects.get(user__username=demo.DEMO_PARTICIPANT)
    assert investor.sponsor == priya
    row = investors_with_overdue(Investor.objects.filter(pk=investor.pk), today=TODAY).get()
    assert row.overdue and 1 <= row.days_left <= 10
    open_requests = HelpRequest.objects.open().select_related("investor")
    assert open_requests.count() >= 2
    assert all(r.investor.path.startswith(priya.path) for r in open_requests)
