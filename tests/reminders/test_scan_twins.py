"""The scan's set-based writes equal their Python rules: `scan.sql.reminders_insert` writes
exactly the outbox rows that `scan.rows.reminder_rows` + `outbox_insert` write (recipient,
step, channel, subject, the moment quiet hours allow, whether handed over at once, and
nothing for a row the outbox holds already), over random plans, cadences, addresses,
opt-outs, time zones and hours. Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

import datetime as dt
import json
import random

import pytest

from installments.models import Plan, PlanStatus
from installments.read_model import plans_changing
from installments.services import payment_record, plan_hold
from reminders.models import CadenceStep, ChannelOptOut, Reminder
from reminders.scan import outbox_insert, reminder_rows
from reminders.scan.sql import reminders_insert, sql_steps
from tests.factories import InvestorFactory, make_plan

from .conftest import business_moment
from .test_scan_scope import undone

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
TODAY = dt.date(2025, 6, 16)
ZONES = ["", "Asia/Kolkata", "America/New_York", "Pacific/Auckland", "Europe/London"]


def _portfolio(rng: random.Random) -> list[int]:
    """Plans on every side of the windows: paid in part, on hold, cancelled lately or long
    ago; investors with and without each address, opted out of some channels."""
    plan_ids = []
    for _ in range(20):
        investor = InvestorFactory(
            email=rng.choice(["", "a@example.com", "b@example.com", "c@example.com"]),
            phone=rng.choice(["", "+919800000001", "+919800000002"]),
            messenger=rng.choice(["", "@handle"]),
            time_zone=rng.choice(ZONES),
        )
        for channel in ("email", "sms", "messenger"):
            if rng.random() < 0.15:
                ChannelOptOut.objects.create(investor=investor, channel=channel)
        first_due = TODAY + rng.randint(-21, 4) * DAY
        plan = make_plan(investor=investor, first_due_date=first_due, today=first_due - 40 * DAY)
        roll = rng.random()
        if roll < 0.2:
            payment_record(
                plan=plan,
                amount="300.00",
                received_on=TODAY - DAY,
                reference=f"T-{plan.pk}",
                today=TODAY - DAY,
            )
        elif roll < 0.4:
            # Holds that ended yesterday, end today, end tomorrow.
            until = TODAY + rng.choice([-1, 0, 0, 1]) * DAY
            plan_hold(plan=plan, until=until, reason="Away", today=TODAY - 2 * DAY)
        elif roll < 0.55:
            with plans_changing() as changes:
                changes.add(investor_ids=[plan.investor_id])
                Plan.objects.filter(pk=plan.pk).update(
                    status=PlanStatus.CANCELLED, cancelled_on=TODAY - rng.randint(0, 10) * DAY
                )
        plan_ids.append(plan.pk)
    return plan_ids


def _cadence(rng: random.Random) -> list[CadenceStep]:
    for step in CadenceStep.objects.all():
        step.by_email = rng.random() < 0.8
        step.by_sms = rng.random() < 0.7
        step.by_messenger = rng.random() < 0.3
        step.is_active = rng.random() < 0.95
        step.save()
    return list(CadenceStep.objects.active())


def _outbox() -> set[tuple]:
    return {
        (*row[:-1], json.dumps(row[-1], sort_keys=True))
        for row in Reminder.objects.values_list(
            "recipient_id",
            "kind",
            "channel",
            "plan_id",
            "installment_id",
            "queued_on",
            "scheduled_for",
            "status",
            "scan_run_id",
            "payload",
        )
    }


def _python_insert(plan_ids, *, now, steps):
    rows = reminder_rows(plan_ids, scan_date=TODAY, now=now, steps=sql_steps(steps))
    return outbox_insert(rows, scan_date=TODAY, run_id=None, now=now)


def _sql_insert(plan_ids, *, now, steps):
    return reminders_insert(plan_ids, scan_date=TODAY, run_id=None, now=now, steps=steps)


@pytest.mark.parametrize("seed", range(6))
def test_the_chunks_statement_writes_the_rows_the_python_rows_write(seed, settings):
    rng = random.Random(seed)
    settings.REMINDER_QUIET_HOURS = "21:00-08:00"
    settings.REMINDER_QUIET_CHANNELS = ["sms", "messenger"]
    plan_ids = _portfolio(rng)
    steps = _cadence(rng)
    written = {}
    for hour in (3, 12, 22):
        now = business_moment(TODAY, hour)
        # A row the outbox holds already (yesterday's scan): neither path writes it again.
        already = reminder_rows(plan_ids, scan_date=TODAY, now=now, steps=sql_steps(steps))
        for name, write in (("python", _python_insert), ("sql", _sql_insert)):
            with undone():
                outbox_insert(already[:2], scan_date=TODAY - DAY, run_id=None, now=now)
                before = _outbox()
                inserted = write(plan_ids, now=now, steps=steps)
                rows = _outbox() - before
                handed = set(
                    Reminder.objects.filter(
                        pk__in=[pk for pk, due in inserted if due], dispatched_at__isnull=False
                    ).values_list("pk", flat=True)
                )
                written[name, hour] = (rows, len(inserted), len(handed))
        assert written["sql", hour] == written["python", hour]
    assert any(written["python", hour][0] for hour in (3, 12, 22)), "some rows are written"
