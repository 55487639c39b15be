"""`load_demo` leaves a history (README, The two commands): last night's scan, run for real,
with the reminders it queued, months of daily snapshots and the participants' contact log of
the last weeks; so the admin home, the dashboard's trend, promises and first contact, and the
investor pages have real shapes on first start. Re-running changes nothing."""

import datetime as dt
import html
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import models
from django.test import Client

from clients.models import Investor
from clients.selectors import nearest_participants
from dashboard.models import Snapshot
from installments.models import Installment, Plan, PlanStatus
from installments.read_model import investors_with_overdue
from reminders.models import Reminder, ScanRun
from structure import demo
from structure.demo_contacts import WINDOW_DAYS, demo_contacts
from structure.management.commands.load_demo import load_portfolio
from structure.models import ContactLogEntry, ContactOutcome, PromiseState

pytestmark = pytest.mark.django_db

TODAY = dt.date(2027, 3, 31)
YESTERDAY = TODAY - dt.timedelta(days=1)
ZONE = ZoneInfo("Asia/Kolkata")


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
        sorted(
            ContactLogEntry.objects.values_list(
                "investor__name",
                "author__username",
                "contacted_at",
                "outcome",
                "promised_on",
                "promised_amount",
                "note",
            ),
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
    assert before[-1]  # a contact log

    assert "already loaded" in load_demo()
    assert history() == before


def test_reset_loads_the_same_history_again(load_demo):
    load_demo()
    before = history()

    load_demo("--reset")

    assert ScanRun.objects.count() == 1
    assert history() == before


# ---------------------------------------------------------------------------- the contact log


def as_demo_participant(path: str):
    client = Client()
    with time_machine.travel(dt.datetime.combine(TODAY, dt.time(11), ZONE), tick=False):
        client.force_login(get_user_model().objects.get(username=demo.DEMO_PARTICIPANT))
        response = client.get(path)
    assert response.status_code == 200, response
    return response


def test_the_demo_participants_dashboard_has_promises_in_every_state_and_first_contacts(
    load_demo,
):
    load_demo()

    figures = as_demo_participant("/api/dashboard/").json()

    promises = figures["promises"]
    assert promises["kept"] > 0 and promises["broken"] > 0 and promises["pending"] > 0, promises
    assert figures["first_contact_hours_median"] is not None
    assert 0 < Decimal(figures["first_contact_within_10h_share"]) < 1, figures


@pytest.mark.parametrize("today,seed", [(TODAY, 3), (dt.date(2028, 2, 29), 8)])
def test_each_promise_in_the_demo_is_in_the_state_it_was_meant_to_have(today, seed):
    load_portfolio(demo.build_portfolio(seed=seed, investors=60, today=today))

    written = demo_contacts(seed=seed, today=today)

    meant = {(c.investor, c.at): c.meant for c in written if c.outcome == "promised"}
    promises = ContactLogEntry.objects.filter(outcome=ContactOutcome.PROMISED)
    judged = {
        (entry.investor_id, entry.contacted_at): entry.promise_state
        for entry in promises.with_promise_state(today)
    }
    assert judged == meant
    assert set(meant.values()) == set(PromiseState.values)
    assert ContactLogEntry.objects.count() == len(written)


def test_the_log_is_the_participants_above_their_clients_after_they_fell_overdue(load_demo):
    load_demo()

    entries = list(ContactLogEntry.objects.select_related("investor", "author"))
    assert {entry.outcome for entry in entries} == set(ContactOutcome.values)
    above = nearest_participants(entry.investor for entry in entries)
    first: dict[int, dt.date] = {}
    for entry in entries:
        assert entry.author == above[entry.investor_id].user, entry
        assert entry.contacted_on == entry.contacted_at.astimezone(ZONE).date()
        assert TODAY - WINDOW_DAYS * dt.timedelta(days=1) < entry.contacted_on < TODAY
        assert entry.note
        if entry.outcome == ContactOutcome.PROMISED:
            assert entry.promised_on >= entry.contacted_on and entry.promised_amount > 0
        first[entry.investor_id] = min(entry.contacted_on, first.get(entry.investor_id, TODAY))
    for investor, day in first.items():  # an installment unpaid at its due date before it
        fell = Installment.objects.filter(plan__investor=investor, due_date__lt=day)
        assert fell.exclude(paid_on__lte=models.F("due_date")).exists(), investor
    # Some overdue clients are not contacted yet.
    priya = Investor.objects.get(user__username=demo.DEMO_PARTICIPANT)
    overdue = investors_with_overdue(Investor.objects.in_structure_of(priya), today=TODAY)
    overdue = overdue.filter(overdue=True)
    assert 0 < overdue.filter(contact_log__isnull=True).count() < overdue.count()


def test_the_investor_page_and_the_structure_show_the_contacts(load_demo):
    load_demo()
    logged = ContactLogEntry.objects.filter(author__username=demo.DEMO_PARTICIPANT)
    promise = logged.filter(outcome=ContactOutcome.PROMISED).earliest("contacted_at")

    page = as_demo_participant(f"/structure/investors/{promise.investor_id}/").content.decode()
    rows = as_demo_participant("/api/structure/?page_size=200").json()["results"]

    assert 'id="contact-entries"' in page and html.escape(promise.note) in page
    latest = [row["last_contact"] for row in rows if row["last_contact"]]
    assert len(latest) == logged.values("investor").distinct().count()
    assert {contact["promise_state"] for contact in latest} > {None}
