"""The night's scan leaves the day's snapshots (docs/rules.md, Dashboard: Snapshots): one row
for the whole book and one per participant, the same rows however often the date is scanned,
and written in-process when the broker is down."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings

from dashboard.models import Snapshot
from reminders.models import ScanRun
from reminders.scan import scan
from reminders.signals import scan_finished
from tests.factories import InvestorFactory, make_plan, participant

pytestmark = pytest.mark.django_db

D = dt.date(2025, 3, 10)
DAY = dt.timedelta(days=1)


@pytest.fixture
def run_scan(django_capture_on_commit_callbacks):
    def run(day: dt.date):
        now = dt.datetime.combine(day, dt.time(2), settings.BUSINESS_TIME_ZONE)
        with (
            time_machine.travel(now, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return scan(scan_date=day, now=now)

    return run


@pytest.fixture
def book():
    root = participant("priya")
    client = InvestorFactory(sponsor=root)
    make_plan(investor=client, first_due_date=D - 10 * DAY, today=D - 40 * DAY)
    make_plan(first_due_date=D + 5 * DAY, today=D - 40 * DAY)  # outside any structure
    return root


def rows():
    return sorted(
        Snapshot.objects.values_list(
            "pk", "as_of", "participant_id", "clients", "invested", "cancelled",
            "overdue_clients", "overdue_amount", "backfilled",
        ),
        key=lambda row: row[0],
    )  # fmt: skip


def test_a_scan_leaves_the_days_snapshots_of_the_book_and_of_each_participant(run_scan, book):
    run_scan(D)

    assert ScanRun.objects.get(scan_date=D).finished_at is not None
    whole = Snapshot.objects.get(as_of=D, participant=None)
    mine = Snapshot.objects.get(as_of=D, participant=book)
    assert Snapshot.objects.count() == 2
    assert (whole.clients, whole.invested) == (3, 6000)
    assert (mine.clients, mine.invested, mine.overdue_clients) == (1, 3000, 1)
    assert mine.overdue_amount == 300
    assert not mine.backfilled


def test_scanning_the_same_date_twice_leaves_the_same_rows(run_scan, book):
    run_scan(D)
    first = rows()
    run_scan(D)

    assert ScanRun.objects.filter(scan_date=D, finished_at__isnull=False).count() == 2
    assert rows() == first


def test_the_task_delivered_twice_rewrites_the_same_rows(run_scan, book):
    from dashboard.tasks import snapshots_write

    run_scan(D)
    first = rows()
    snapshots_write(D.isoformat())
    assert rows() == first


def test_a_night_caught_up_late_gets_no_snapshot_of_its_own(run_scan, book):
    run_scan(D - 3 * DAY)
    run_scan(D)  # catches up D-2 and D-1

    assert set(ScanRun.objects.filter(caught_up=True).values_list("scan_date", flat=True)) == {
        D - 2 * DAY,
        D - DAY,
    }
    assert set(Snapshot.objects.values_list("as_of", flat=True)) == {D - 3 * DAY, D}


def test_with_the_broker_down_the_snapshots_are_written_here_and_now(run_scan, book):
    from backoffice.celery import app
    from reminders import broker

    saved = app.conf.broker_url, app.conf.task_always_eager
    # A port nobody listens on: never the shared Redis.
    app.conf.broker_url, app.conf.task_always_eager = "redis://127.0.0.1:9/0", False
    broker._unreachable.clear()
    try:
        run_scan(D)
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved
        broker._unreachable.clear()

    assert Snapshot.objects.filter(as_of=D).count() == 2


def test_a_failing_listener_never_fails_the_scan(run_scan, book):
    def broken(sender, **kwargs):
        raise RuntimeError("the listener broke")

    scan_finished.connect(broken, dispatch_uid="test.broken")
    try:
        run_scan(D)
    finally:
        scan_finished.disconnect(dispatch_uid="test.broken")

    run = ScanRun.objects.get(scan_date=D)
    assert run.status == "completed"
    assert Snapshot.objects.filter(as_of=D).count() == 2
