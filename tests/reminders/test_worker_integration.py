"""The scan and the delivery through real Celery worker processes, the real Redis and
PostgreSQL: what the nightly job does in production (docs/rules.md, reminders; the README, running
the full stack).

Each test starts its own worker(s) (see conftest.Workers); emails land as files the test
reads, each carrying its reminder's reference, so "delivered exactly once" is counted.
"""

import datetime as dt
import threading
import time

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from backoffice.lib.dates import business_today
from installments.models import PlanStatus
from installments.services import payment_record
from reminders.models import ChannelOptOut, Reminder, ReminderStatus, ScanRun
from reminders.scan import scan
from reminders.services import reminders_redispatch
from tests.factories import InvestorFactory, make_plan

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DAY = dt.timedelta(days=1)
CLOSED_PORT_BROKER = "redis://127.0.0.1:1/3"


def overdue_plans(count: int, today: dt.date, **investor):
    """Plans whose first installment fell due yesterday: today is their "overdue" day."""
    return [
        make_plan(
            investor=InvestorFactory(phone="", **investor),
            first_due_date=today - DAY,
            today=today - 30 * DAY,
        )
        for _ in range(count)
    ]


def wait_for(condition, *, timeout: float = 60, what: str = "", tick=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tick:
            tick()
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def all_sent(expected: int):
    return lambda: Reminder.objects.filter(status=ReminderStatus.SENT).count() == expected


def broker_idle() -> bool:
    """Nothing waiting in the test broker for a worker."""
    from .conftest import _redis_client

    return _redis_client().llen("celery") == 0


def assert_each_delivered_once(workers, reminders):
    delivered = workers.delivered()
    expected = {f"reminder-{r.pk}" for r in reminders}
    assert set(delivered) == expected
    assert set(delivered.values()) == {1}, delivered


def test_a_worker_delivers_the_scans_reminders_through_the_email_backend(
    workers, publish_to_broker
):
    today = business_today()
    overdue_plans(5, today)
    workers.start()

    report = scan(scan_date=today, now=timezone.now())

    wait_for(all_sent(5), what="5 reminders sent")
    wait_for(lambda: ScanRun.objects.get(pk=report.run.pk).finished_at, what="the run closed")
    assert_each_delivered_once(workers, Reminder.objects.all())
    run = ScanRun.objects.get(pk=report.run.pk)
    assert run.reminders_queued == 5


def test_two_scans_of_one_date_at_once_queue_and_send_each_reminder_once(
    workers, publish_to_broker
):
    today = business_today()
    overdue_plans(8, today)
    workers.start("a")
    workers.start("b")
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            scan(scan_date=today, now=timezone.now())
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()

    assert errors == []
    wait_for(all_sent(8), what="8 reminders sent")
    # Both runs closed and no message left in the broker: a duplicate would have shown up.
    wait_for(
        lambda: (
            ScanRun.objects.filter(finished_at__isnull=False, errors="").count() == 2
            and broker_idle()
        ),
        what="both runs completed, the broker empty",
    )
    assert Reminder.objects.count() == 8
    assert_each_delivered_once(workers, Reminder.objects.all())


def test_with_the_broker_down_reminders_stay_pending_and_go_once_it_is_back(
    workers, publish_to_broker, settings
):
    settings.REMINDER_REDISPATCH_AFTER_SECONDS = 2
    today = business_today()
    plans = overdue_plans(4, today)
    publish_to_broker(CLOSED_PORT_BROKER)

    scan(scan_date=today, now=timezone.now())

    # The outbox is written even so: the chunks ran here, nothing reached a broker.
    assert Reminder.objects.count() == 4
    assert set(Reminder.objects.values_list("status", flat=True)) == {ReminderStatus.PENDING}
    assert not Reminder.objects.filter(dispatched_at__isnull=False).exists()
    # Paid while the broker was down: the row exists, but the message is no longer true.
    paid = plans[0]
    payment_record(
        plan=paid, amount="300.00", received_on=today, reference="WHILE-DOWN", today=today
    )

    publish_to_broker(workers.broker)
    workers.start()
    assert reminders_redispatch(now=timezone.now()) == 4

    wait_for(all_sent(3), what="3 reminders sent")
    wait_for(
        lambda: Reminder.objects.filter(plan=paid, status=ReminderStatus.SKIPPED).exists(),
        what="the paid one skipped",
    )
    assert_each_delivered_once(workers, Reminder.objects.exclude(plan=paid))


def test_a_worker_killed_mid_batch_leaves_every_reminder_delivered_at_most_once(
    fault_workers, own_redis, settings
):
    # Its own Redis: a worker of another test run on a shared broker must not take its work.
    workers = fault_workers
    settings.REMINDER_REDISPATCH_AFTER_SECONDS = 2
    today = business_today()
    overdue_plans(10, today)
    # The backend writes, then is slow to answer; batches of 2 end well inside the lease.
    slow = {
        "EMAIL_BACKEND": "tests.reminders.slow_email.EmailBackend",
        "SLOW_EMAIL_SECONDS": "0.6",
        "REMINDER_DELIVER_BATCH": "2",
    }
    first = workers.start("first", **slow)

    scan(scan_date=today, now=timezone.now())
    wait_for(lambda: len(workers.delivered()) >= 3, what="3 deliveries", timeout=60)
    # Killed while the backend answers: the message went out, "sent" is not recorded.
    workers.kill(first)
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() < 10

    workers.start("second", **slow)
    # The periodic re-dispatch (run here by hand, as beat would): pending rows the dead
    # worker held, and the row it had claimed once its lease runs out.
    finished = [ReminderStatus.SENT, ReminderStatus.UNCERTAIN]
    wait_for(
        lambda: (
            Reminder.objects.filter(status__in=finished).count() == 10 and own_redis.queued() == 0
        ),
        what="10 reminders sent or uncertain",
        timeout=90,
        tick=lambda: reminders_redispatch(now=timezone.now()),
    )
    # Email cannot drop a repeat: the one in flight at the kill is uncertain, never resent.
    assert Reminder.objects.filter(status=ReminderStatus.UNCERTAIN).count() == 1
    assert_each_delivered_once(workers, Reminder.objects.all())


def test_catch_up_quiet_hours_and_opt_out_through_a_worker(workers, publish_to_broker):
    today = business_today()
    ScanRun.objects.create(scan_date=today - 4 * DAY, finished_at=timezone.now())
    due_tomorrow = make_plan(
        investor=InvestorFactory(phone=""), first_due_date=today + DAY, today=today - 40 * DAY
    )
    was_upcoming = make_plan(
        investor=InvestorFactory(phone=""),
        first_due_date=today - 2 * DAY,
        today=today - 40 * DAY,
    )
    expired = make_plan(
        investor=InvestorFactory(phone=""),
        first_due_date=today - 22 * DAY,
        today=today - 60 * DAY,
    )
    night_owl = make_plan(first_due_date=today - DAY, today=today - 30 * DAY)  # email + SMS
    opted_out = make_plan(
        investor=InvestorFactory(phone=""), first_due_date=today - DAY, today=today - 30 * DAY
    )
    ChannelOptOut.objects.create(investor=opted_out.investor, channel="email")
    # Whatever the hour this runs at, it is quiet hours for the worker right now.
    local = timezone.localtime(timezone.now(), today and night_owl.investor.zone)
    quiet = f"{(local - dt.timedelta(hours=1)):%H:%M}-{(local + dt.timedelta(hours=2)):%H:%M}"
    workers.start(REMINDER_QUIET_HOURS=quiet)

    scan(scan_date=today, now=timezone.now())

    wait_for(all_sent(4), what="4 emails sent")
    kinds = dict(Reminder.objects.filter(channel="email").values_list("plan_id", "kind"))
    assert kinds == {
        due_tomorrow.pk: "upcoming",
        was_upcoming.pk: "overdue",  # its "due in 3 days" passed while no scan ran
        expired.pk: "cancelled",
        night_owl.pk: "overdue",
    }
    expired.refresh_from_db()
    assert expired.status == PlanStatus.CANCELLED
    assert expired.cancelled_on == today - 2 * DAY
    assert [r.scan_date for r in ScanRun.objects.filter(caught_up=True).order_by("scan_date")] == [
        today - 3 * DAY,
        today - 2 * DAY,
        today - DAY,
    ]
    sms = Reminder.objects.get(channel="sms")
    assert sms.status == ReminderStatus.PENDING
    assert sms.scheduled_for > timezone.now() + dt.timedelta(hours=1)
    assert not Reminder.objects.filter(plan=opted_out).exists()
    assert_each_delivered_once(workers, Reminder.objects.filter(channel="email"))
