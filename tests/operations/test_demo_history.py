"""`load_demo` leaves a history (README, The two commands): last night's scan, run for real,
with the reminders it queued, and months of daily snapshots; so the admin home and the
dashboard's trend have real shapes on first start. Re-running changes nothing."""

import datetime as dt
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from clients.models import Investor
from dashboard.models import Snapshot
from installments.models import Plan, PlanStatus
from reminders.models import Reminder, ScanRun
from structure import demo

pytestmark = pytest.mark.django_db

TODAY = dt.date(2027, 3, 31)
YESTERDAY = TODAY - dt.timedelta(days=1)


@pytest.fixture
def load_demo(django_capture_on_commit_callbacks):
    """The command, with the hand-overs it leaves to after-commit run (the test's
    transaction never commits)."""

    def run(*args: str) -> str:
        out = StringIO()
        moment = dt.datetime.combine(TODAY, dt.time(10), ZoneInfo("Asia/Kolkata"))
        with (
            time_machine.travel(moment, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            call_command("load_demo", "--investors", "40", "--seed", "3", *args, stdout=out)
        return out.getvalue()

    return run


def history() -> tuple:
    return (
        sorted(ScanRun.objects.values_list("scan_date", "plans_cancelled", "reminders_queued")),
        Reminder.objects.count(),
        sorted(
            Snapshot.objects.values_list("as_of", "participant__user__username", "cancelled"),
            key=str,
        ),
    )


def test_the_demo_has_last_nights_scan_with_the_reminders_it_queued(load_demo):
    output = load_demo()

    run = ScanRun.objects.get()
    assert (run.scan_date, run.trigger, run.status, run.caught_up) == (
        YESTERDAY,
        "demo",
        "completed",
        False,
    )
    assert run.reminders_queued == Reminder.objects.filter(scan_run=run).count() > 0
    assert run.plans_cancelled == Plan.objects.filter(cancelled_on=YESTERDAY).count() > 0
    # Only the plans whose deadline was yesterday are left past it, for tonight's scan.
    past = Plan.objects.with_overdue(TODAY).filter(status=PlanStatus.ACTIVE, days_left__lt=0)
    assert set(past.values_list("days_left", flat=True)) == {-1}
    assert f"Last night:   the scan of {YESTERDAY} cancelled" in output


def test_the_demo_has_months_of_snapshots_for_the_book_and_each_participant(load_demo):
    load_demo()

    book = Snapshot.objects.filter(participant=None)
    months = {(s.year, s.month) for s in book.values_list("as_of", flat=True)}
    assert len(months) >= 6
    night = book.get(as_of=YESTERDAY)  # written by the scan, with the day's overdue figures
    assert not night.backfilled and night.overdue_clients > 0
    assert book.filter(backfilled=True).count() > 30
    for participant in Investor.objects.participants():
        assert Snapshot.objects.filter(participant=participant).count() == book.count()
    shares = {s.cancelled / s.invested for s in book.filter(backfilled=True) if s.invested}
    assert len(shares) > 3  # a trend with a shape, not a flat line


def test_the_admin_home_shows_last_nights_scan_after_the_demo(load_demo):
    load_demo()

    client = Client()
    moment = dt.datetime.combine(TODAY, dt.time(11), ZoneInfo("Asia/Kolkata"))
    with time_machine.travel(moment, tick=False):
        client.force_login(get_user_model().objects.get(username=demo.ADMIN_USERNAME))
        response = client.get("/admin/")
    assert response.status_code == 200, response
    html = response.content.decode()

    assert f"The last scan, of {YESTERDAY}, completed." in html
    assert "No night was missed." in html


def test_loading_the_demo_again_leaves_its_history_as_it_is(load_demo):
    load_demo()
    before = history()

    assert "already loaded" in load_demo()
    assert history() == before


def test_reset_loads_the_same_history_again(load_demo):
    load_demo()
    before = history()

    load_demo("--reset")

    assert ScanRun.objects.count() == 1
    assert history() == before
