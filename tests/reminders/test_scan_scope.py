"""The scan reads only the night's changes (a step's first day, a payment or an admin act
since the last scan, a hold that ended, a recent cancellation), yet queues every reminder that
reading every plan inside a window would: both are played over the same random histories of
payments, holds, releases, restores, added shares and missed nights, and the outboxes must
end identical (reminders.scan.candidate_plan_ids says why)."""

import datetime as dt
import random
from contextlib import contextmanager

import pytest
import time_machine
from django.db import transaction

from backoffice.lib.errors import DomainError
from installments.models import Plan, PlanStatus
from installments.services import (
    payment_record,
    plan_add_shares,
    plan_hold,
    plan_release_hold,
    plan_restore,
)
from reminders import scan as reminder_scan
from reminders.models import Reminder, ScanRun
from tests.factories import make_plan

from .conftest import business_moment

pytestmark = pytest.mark.django_db

START = dt.date(2025, 3, 1)
NIGHTS = 45
PLANS = 10
DAY = dt.timedelta(days=1)


class _Undo(Exception):
    pass


@contextmanager
def undone():
    try:
        with transaction.atomic():
            yield
            raise _Undo
    except _Undo:
        pass


def scan_night(night: dt.date, hour: int = 2) -> None:
    """The nightly scan and its chunks run by a worker (the hand-over is not needed here)."""
    now = business_moment(night, hour)
    with time_machine.travel(now, tick=False):
        report = reminder_scan.scan(scan_date=night, now=now)
        for chunk_id in report.run.chunks.order_by("number").values_list("pk", flat=True):
            reminder_scan.scan_chunk_run(chunk_id=chunk_id, now=now)


def act(rng: random.Random, plan: Plan, day: dt.date) -> None:
    """One random thing that happens to a plan during `day`; refusals change nothing."""
    plan.refresh_from_db()
    choice = rng.random()
    try:
        if choice < 0.45:
            amount = rng.choice(["300.00", "150.00", "600.00", "100.00"])
            received = day - rng.choice([0, 0, 0, 1, 3, 8]) * DAY
            reference = f"R-{plan.pk}-{day}-{rng.random()}"
            payment_record(
                plan=plan, amount=amount, received_on=received, reference=reference, today=day
            )
        elif choice < 0.6:
            until = day + rng.randint(0, 9) * DAY
            plan_hold(plan=plan, until=until, reason="Travelling", today=day)
        elif choice < 0.7:
            plan_release_hold(plan=plan, reason="Back home", today=day)
        elif choice < 0.85:
            plan_restore(plan=plan, reason="Agreed a new date", today=day)
        else:
            plan_add_shares(plan=plan, shares=rng.choice([30, 300]), today=day)
    except DomainError:
        pass


def play(seed: int, *, read_every_window: bool, monkeypatch) -> set[tuple]:
    """Run one history night by night; return the outbox in terms that do not depend on
    row ids. With `read_every_window`, every scan reads every plan inside a window (what
    the scan did before it read only the night's changes)."""
    rng = random.Random(seed)
    with monkeypatch.context() as patch:
        if read_every_window:
            patch.setattr(reminder_scan.candidates, "last_reminder_run", lambda scan_date: None)
        with undone():
            with time_machine.travel(business_moment(START - 40 * DAY, 9), tick=False):
                plans = [
                    make_plan(
                        first_due_date=START + rng.randint(-15, 35) * DAY,
                        today=START - 40 * DAY,
                    )
                    for _ in range(PLANS)
                ]
            number = {plan.pk: index for index, plan in enumerate(plans)}
            for k in range(NIGHTS):
                night = START + k * DAY
                if k == 0 or rng.random() > 0.15:  # some nights the scan does not run
                    scan_night(night)
                    if rng.random() < 0.1:
                        scan_night(night, hour=3)  # run again by hand
                for plan in plans:
                    if rng.random() < 0.12:
                        moment = business_moment(night, rng.randint(9, 20))
                        with time_machine.travel(moment, tick=False):
                            act(rng, plan, night)
            outbox = {
                (
                    number[r.plan_id],
                    r.installment.number if r.installment_id else None,
                    r.kind,
                    r.channel,
                    r.queued_on,
                )
                for r in Reminder.objects.select_related("installment")
            }
            assert ScanRun.objects.filter(caught_up=True).exists() or seed % 7
            statuses = set(Plan.objects.values_list("status", flat=True))
            assert PlanStatus.ACTIVE in statuses
    return outbox


@pytest.mark.parametrize("seed", range(8))
def test_reading_the_nights_changes_queues_what_reading_every_window_would(seed, monkeypatch):
    changes = play(seed, read_every_window=False, monkeypatch=monkeypatch)
    windows = play(seed, read_every_window=True, monkeypatch=monkeypatch)
    assert len(windows) > 20, "the history queues reminders of many kinds"
    assert changes == windows


def test_a_plan_paid_into_the_middle_of_a_window_gets_its_reminder_the_next_night():
    plan = make_plan(first_due_date=dt.date(2025, 2, 9), today=dt.date(2025, 1, 1))
    scan_night(dt.date(2025, 3, 1))  # its grace deadline was 28 February: cancelled
    with time_machine.travel(business_moment(dt.date(2025, 3, 2), 11), tick=False):
        plan_restore(plan=plan, reason="Agreed", today=dt.date(2025, 3, 2))
    for day in range(15, 21):
        scan_night(dt.date(2025, 3, day))  # 9 February is too old for any step
    with time_machine.travel(business_moment(dt.date(2025, 3, 20), 11), tick=False):
        payment_record(
            plan=plan,
            amount="300.00",
            received_on=dt.date(2025, 3, 20),
            reference="P",
            today=dt.date(2025, 3, 20),
        )
    # Now the oldest unpaid is due 9 March: 12 days late on the 21st, inside the
    # overdue-week window (days 7 to 13) but not on its first day.
    scan_night(dt.date(2025, 3, 21))
    queued = Reminder.objects.filter(plan=plan, queued_on=dt.date(2025, 3, 21))
    assert {(r.kind, r.installment.number) for r in queued} == {("overdue-week", 2)}


def test_a_released_hold_brings_the_plan_back_inside_its_window():
    plan = make_plan(first_due_date=dt.date(2025, 3, 11), today=dt.date(2025, 1, 1))
    with time_machine.travel(business_moment(dt.date(2025, 3, 9), 11), tick=False):
        plan_hold(plan=plan, until=dt.date(2025, 4, 1), reason="Ill", today=dt.date(2025, 3, 9))
    scan_night(dt.date(2025, 3, 18))
    with time_machine.travel(business_moment(dt.date(2025, 3, 20), 11), tick=False):
        plan_release_hold(plan=plan, reason="Better", today=dt.date(2025, 3, 20))
    assert not Reminder.objects.filter(plan=plan).exists()
    scan_night(dt.date(2025, 3, 21))  # 10 days late: overdue-week, opened on the 18th
    assert set(Reminder.objects.filter(plan=plan).values_list("kind", flat=True)) == {
        "overdue-week"
    }


def test_a_hold_that_ran_out_brings_the_plan_back_to_the_scan():
    plan = make_plan(first_due_date=dt.date(2025, 3, 11), today=dt.date(2025, 1, 1))
    with time_machine.travel(business_moment(dt.date(2025, 3, 9), 11), tick=False):
        plan_hold(plan=plan, until=dt.date(2025, 3, 19), reason="Ill", today=dt.date(2025, 3, 9))
    scan_night(dt.date(2025, 3, 18))
    assert not Reminder.objects.filter(plan=plan).exists()
    scan_night(dt.date(2025, 3, 21))  # the hold ended on the 19th without any write
    assert set(Reminder.objects.filter(plan=plan).values_list("kind", flat=True)) == {
        "overdue-week"
    }


def test_the_scan_reads_the_nights_changes_not_every_plan_in_a_window():
    with time_machine.travel(business_moment(dt.date(2025, 1, 1), 9), tick=False):
        on_first_day = make_plan(first_due_date=dt.date(2025, 3, 24), today=dt.date(2025, 1, 1))
        mid_window = make_plan(first_due_date=dt.date(2025, 3, 12), today=dt.date(2025, 1, 1))
    scan_night(dt.date(2025, 3, 20))
    assert reminder_scan.candidate_plan_ids(dt.date(2025, 3, 21)) == [on_first_day.pk]
    # A rerun of a night already scanned: nothing changed since, nothing to read.
    assert reminder_scan.candidate_plan_ids(dt.date(2025, 3, 20)) == []
    # Before any scan: every plan in a window (the base case).
    assert mid_window.pk in reminder_scan.candidate_plan_ids(dt.date(2025, 3, 19))
