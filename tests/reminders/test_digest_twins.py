"""The digests counted and ranked in the database (`reminders.scan.digest`) equal the digests
read naively: every plan and installment read as objects, the rules of `installments.rules`
applied in Python, each client attributed to every participant above them by their paths,
the clients sorted in Python. The same participants, in the same order, with the same
counts, names, amounts and order of names, over random trees (participants under
participants, investors without one), names that tie and differ only by case or accent,
plans paid in part, on hold, past their deadline, granted an extension, cancelled lately or
long ago; read as in a book with few participants and as in one with many. Runs on SQLite
and, in the PostgreSQL pass, on PostgreSQL."""

import datetime as dt
import random
from decimal import Decimal

import pytest

from clients.models import Investor
from installments import rules
from installments.models import Plan, PlanStatus
from installments.read_model import plans_changing
from installments.services import payment_record, plan_hold
from reminders.models import CadenceStep, Trigger
from reminders.scan import digest_rows
from tests.factories import InvestorFactory, make_plan, participant

from .conftest import business_moment

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
TODAY = dt.date(2025, 6, 16)
# Names that tie, and that sort differently by code point than by a locale's rules.
NAMES = ["Asha", "Asha", "asha", "Ásha", "Bina", "Zoë", "Ömer", "Émile", "zed"]


def _tree(rng: random.Random) -> list[Investor]:
    investors: list[Investor] = []
    for k in range(rng.randint(12, 30)):
        sponsor = rng.choice([None, *investors, *investors]) if investors else None
        name = rng.choice(NAMES)
        if rng.random() < 0.3:
            investors.append(participant(f"p{k}", sponsor=sponsor, name=name))
        else:
            investors.append(InvestorFactory(sponsor=sponsor, name=name))
    return investors


def _plan(rng: random.Random, investor: Investor) -> None:
    """A plan due from a month ago to next week, then paid in part, held, extended or
    cancelled, or left alone."""
    # Many on the same days (ties); a month and a day ago, an installment due today.
    days = [-32, -31, -31, -21, -19, -17, -16, -16, -16, -10, -10, -1, 0, 4]
    first_due = TODAY + rng.choice(days) * DAY
    price = Decimal(rng.choice(["3000.00"] * 4 + ["1500.00", "2999.90"]))
    plan = make_plan(
        investor=investor, first_due_date=first_due, today=first_due - 40 * DAY, price=price
    )
    roll = rng.random()
    if roll < 0.12:
        payment_record(
            plan=plan,
            amount=rng.choice(["300.00", "123.45", "0.01", "600.00"]),
            received_on=TODAY - DAY,
            reference=f"T-{plan.pk}",
            today=TODAY - DAY,
        )
    elif roll < 0.25:
        until = TODAY + rng.choice([-1, 0, 1, 3]) * DAY
        plan_hold(plan=plan, until=until, reason="Away", today=TODAY - 2 * DAY)
    elif roll < 0.5:
        with plans_changing() as changes:
            changes.add(investor_ids=[investor.pk])
            if roll < 0.33:
                change = {"grace_extended_to": TODAY + rng.randint(-2, 6) * DAY}
            else:
                change = {
                    "status": PlanStatus.CANCELLED,
                    "cancelled_on": TODAY - rng.randint(0, 8) * DAY,
                }
            Plan.objects.filter(pk=plan.pk).update(**change)


def _cancelled_branches(rng: random.Random, investors: list[Investor]) -> None:
    """Participants with nothing below them but cancelled plans: one under another, and one
    elsewhere."""
    outer = participant("outer", sponsor=rng.choice(investors), name=rng.choice(NAMES))
    inner = participant("inner", sponsor=outer, name=rng.choice(NAMES))
    elsewhere = participant("elsewhere", sponsor=rng.choice(investors), name=rng.choice(NAMES))
    for sponsor in rng.sample([inner, elsewhere], 2):
        plan = make_plan(investor=InvestorFactory(sponsor=sponsor), first_due_date=TODAY)
        with plans_changing() as changes:
            changes.add(investor_ids=[plan.investor_id])
            Plan.objects.filter(pk=plan.pk).update(
                status=PlanStatus.CANCELLED, cancelled_on=TODAY - rng.randint(0, 1) * DAY
            )


def _naive_clients(today: dt.date) -> dict[int, dict]:
    """Per investor with an overdue plan not on hold and not past its deadline."""
    clients: dict[int, dict] = {}
    for plan in Plan.objects.prefetch_related("installments").order_by("pk"):
        unpaid = sorted(
            (i for i in plan.installments.all() if i.paid_on is None), key=lambda i: i.due_date
        )
        if plan.status != PlanStatus.ACTIVE or not unpaid or plan.is_on_hold(today):
            continue
        if not rules.is_overdue(unpaid[0].due_date, today):
            continue
        deadline = rules.grace_deadline(
            unpaid[0].due_date, hold_until=plan.hold_until, extended_to=plan.grace_extended_to
        )
        if rules.days_left(deadline, today) < 0:
            continue
        owed = [rules.Outstanding(i.pk, i.due_date, i.unpaid) for i in unpaid]
        client = clients.setdefault(
            plan.investor_id, {"deadline": deadline, "amount": Decimal("0.00")}
        )
        client["deadline"] = min(client["deadline"], deadline)
        client["amount"] += rules.overdue_amount(owed, today)
        client["newest_plan"] = plan.pk
    return clients


def _naive_digests(today: dt.date, since: dt.date, cap: int) -> list[tuple[int, dict]]:
    """(participant id, payload), participants in the order they are first reached: by their
    clients newest plan first, then by their plans cancelled newest first, nearest first."""
    investors = {investor.pk: investor for investor in Investor.objects.all()}
    nearest_first = sorted(Investor.objects.participants(), key=lambda p: len(p.path), reverse=True)

    def above(investor_id: int) -> list[Investor]:
        path = investors[investor_id].path
        return [p for p in nearest_first if p.path != path and path.startswith(p.path)]

    clients = _naive_clients(today)
    gone = Plan.objects.filter(status=PlanStatus.CANCELLED).order_by("-pk")
    found: dict[int, dict] = {}
    for investor_id in sorted(clients, key=lambda pk: -clients[pk]["newest_plan"]):
        for p in above(investor_id):
            found.setdefault(p.pk, {"clients": [], "cancelled": 0})["clients"].append(investor_id)
    for plan in gone:
        if since <= plan.cancelled_on <= today:
            for p in above(plan.investor_id):
                found.setdefault(p.pk, {"clients": [], "cancelled": 0})["cancelled"] += 1
    digests = []
    for pk, mine in found.items():
        urgent = sorted(
            mine["clients"],
            key=lambda c: (
                rules.days_left(clients[c]["deadline"], today),
                -clients[c]["amount"],
                investors[c].name,
            ),
        )
        payload = {
            "overdue_clients": len(urgent),
            "due_soon_clients": sum(
                rules.in_last_days(clients[c]["deadline"], today) for c in urgent
            ),
            "cancelled_plans": mine["cancelled"],
            "urgent": [
                {
                    "name": investors[c].name,
                    "phone": investors[c].phone,
                    "days_left": rules.days_left(clients[c]["deadline"], today),
                    "overdue_amount": f"{clients[c]['amount']:.2f}",
                }
                for c in urgent[:cap]
            ],
            "more": max(0, len(urgent) - cap),
        }
        digests.append((pk, payload))
    return digests


@pytest.mark.parametrize("seed", range(12))
def test_the_digests_equal_the_digests_read_naively(seed, settings, monkeypatch):
    rng = random.Random(seed)
    if seed % 2:  # read as in a book with many participants
        monkeypatch.setattr("reminders.scan.digest.FEW_PARTICIPANTS", 0)
    settings.REMINDER_DIGEST_NAMES = rng.choice([0, 3, 5, 10, 10])
    investors = _tree(rng)
    for investor in investors:
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            _plan(rng, investor)
    _cancelled_branches(rng, investors)
    steps = list(CadenceStep.objects.active())
    channels = [c for step in steps if step.trigger == Trigger.DIGEST for c in step.channels]
    since = TODAY - rng.randint(0, 8) * DAY
    rows = digest_rows(scan_date=TODAY, since=since, now=business_moment(TODAY, 3), steps=steps)
    expected = _naive_digests(TODAY, since, settings.REMINDER_DIGEST_NAMES)
    assert [(row.recipient_id, row.channel, row.payload) for row in rows] == [
        (pk, channel, payload) for pk, payload in expected for channel in channels
    ]
    assert all(row.digest_date == TODAY for row in rows)
