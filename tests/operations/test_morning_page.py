"""The admin home opens on the operator's morning (docs/rules.md, The morning page): whether
the last scan ran and what it did, missed nights in red, what needs attention, each figure
linked to the changelist filtered to it."""

import datetime as dt
import re
from html import unescape

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from reminders.models import Reminder, ReminderStatus, ScanRun
from reminders.scan import scan
from tests.factories import StaffFactory, UserFactory, make_plan

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 5, 11)
DAY = dt.timedelta(days=1)


def moment(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), settings.BUSINESS_TIME_ZONE)


@pytest.fixture
def admin_page():
    user = StaffFactory(is_superuser=True)

    def get(language: str = "en") -> str:
        client = Client()
        client.force_login(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        with time_machine.travel(moment(TODAY, 9), tick=False):
            response = client.get("/admin/")
        assert response.status_code == 200
        return response.content.decode()

    return get


def night(day: dt.date, *, finished: bool = True, errors: str = "", cancelled: int = 0, **kw):
    run = ScanRun.objects.create(scan_date=day, errors=errors, plans_cancelled=cancelled, **kw)
    started = moment(day, 2)
    ScanRun.objects.filter(pk=run.pk).update(
        started_at=started, finished_at=started + dt.timedelta(minutes=3) if finished else None
    )
    run.refresh_from_db()
    return run


def reminder(plan, run, status, *, scheduled_for=None, channel="email", kind="overdue"):
    return Reminder.objects.create(
        recipient=plan.investor,
        plan=plan,
        kind=kind,
        channel=channel,
        queued_on=run.scan_date,
        scheduled_for=scheduled_for or moment(run.scan_date, 2),
        status=status,
        scan_run=run,
    )


def figure(html: str, label: str) -> tuple[str, str]:
    """The number and the link of the figure labelled `label`."""
    found = re.search(r'<a href="([^"]+)"><strong>([^<]+)</strong>\s*' + re.escape(label), html)
    assert found, label
    return found.group(2), unescape(found.group(1))


def test_a_scan_that_never_ran_is_said_in_red(admin_page):
    html = admin_page()
    assert 'class="morning-state bad">The nightly scan has never run' in html


def test_last_nights_scan_says_when_it_ran_and_what_it_did_each_figure_linked(admin_page):
    night(TODAY - DAY)
    run = night(TODAY, cancelled=4)
    plans = [make_plan(first_due_date=TODAY - 20 * DAY, today=TODAY - 40 * DAY) for _ in range(3)]
    for plan, status in zip(plans, ["sent", "failed", "pending"], strict=True):
        reminder(plan, run, status)
    reminder(plans[0], run, "sent", channel="sms")
    reminder(plans[1], run, "uncertain", channel="sms")
    reminder(plans[2], run, "skipped", channel="sms")

    html = admin_page()

    assert 'class="morning-state good"' in html
    assert "The last scan, of 2026-05-11, completed." in html
    assert "2026-05-11 02:00" in html and "2026-05-11 02:03" in html
    assert "No night was missed." in html
    assert figure(html, "plans cancelled") == (
        "4",
        "/admin/installments/plan/?status__exact=cancelled&cancelled_on=2026-05-11",
    )
    assert figure(html, "reminders queued") == (
        "6",
        f"/admin/reminders/reminder/?scan_run__id__in={run.pk}",
    )
    assert figure(html, "sent")[0] == "2"
    assert figure(html, "failed") == (
        "1",
        f"/admin/reminders/reminder/?scan_run__id__in={run.pk}&status__in=failed",
    )
    assert figure(html, "waiting")[0] == "1"
    assert figure(html, "skipped")[0] == "1"
    assert figure(html, "uncertain: may have been sent")[0] == "1"
    # Every reminder queued is in one of the figures.
    parts = ("sent", "failed", "waiting", "skipped", "uncertain: may have been sent")
    assert sum(int(figure(html, label)[0]) for label in parts) == 6
    assert figure(html, "reminders need attention") == (
        "2",
        "/admin/reminders/reminder/?status__in=failed,uncertain",
    )


def test_a_rerun_of_the_same_date_adds_to_the_nights_figures_instead_of_hiding_them(
    admin_page, client, settings, django_capture_on_commit_callbacks
):
    settings.SMS_BACKEND = settings.MESSENGER_BACKEND = "reminders.channels.LocmemBackend"
    settings.REMINDER_QUIET_HOURS = ""
    for days_ago in (25, 30, 1):  # two past their grace deadline, one just overdue
        make_plan(first_due_date=TODAY - days_ago * DAY, today=TODAY - 40 * DAY)

    def scan_at(hour: int) -> ScanRun:
        with (
            time_machine.travel(moment(TODAY, hour), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return scan(scan_date=TODAY, now=moment(TODAY, hour)).run

    night(TODAY - DAY)
    first = scan_at(2)
    rerun = scan_at(8)  # by hand, for the same date: nothing left to cancel or queue
    first.refresh_from_db()
    rerun.refresh_from_db()
    assert (first.plans_cancelled, rerun.plans_cancelled) == (2, 0)
    assert first.reminders_queued > 0 and rerun.reminders_queued == 0
    queued = Reminder.objects.filter(scan_run=first)

    html = admin_page()

    assert "The last scan, of 2026-05-11, completed." in html
    # Started with the first run, finished with the last one.
    assert "<dd>2026-05-11 02:00</dd>" in html and "<dd>2026-05-11 08:00</dd>" in html
    assert "2 runs of 2026-05-11: their figures are added up below." in html
    assert "No night was missed." in html
    assert figure(html, "plans cancelled") == (
        "2",
        "/admin/installments/plan/?status__exact=cancelled&cancelled_on=2026-05-11",
    )
    runs = f"{first.pk},{rerun.pk}"
    assert figure(html, "reminders queued") == (
        str(queued.count()),
        f"/admin/reminders/reminder/?scan_run__id__in={runs}",
    )
    assert figure(html, "sent") == (
        str(queued.filter(status="sent").count()),
        f"/admin/reminders/reminder/?scan_run__id__in={runs}&status__in=sent",
    )
    # Each figure is what its link lists.
    client.force_login(StaffFactory(is_superuser=True))
    for label in ("plans cancelled", "reminders queued", "sent", "failed", "waiting"):
        count, link = figure(html, label)
        listed = re.search(r'<p class="paginator">\s*(\d+) ', client.get(link).content.decode())
        assert listed and listed.group(1) == count, (label, link)


def test_every_figure_link_opens_its_filtered_changelist(admin_page, client):
    run = night(TODAY, cancelled=1)
    plan = make_plan(first_due_date=TODAY - 20 * DAY, today=TODAY - 40 * DAY)
    reminder(plan, run, "failed")
    html = admin_page()
    links = re.findall(r'<a href="(/admin/[^"]+\?[^"]+)"><strong>', html)
    assert len(links) >= 6
    client.force_login(StaffFactory(is_superuser=True))
    for link in links:
        response = client.get(unescape(link))
        assert response.status_code == 200, link
        assert b"errornote" not in response.content, link
    failed = client.get(figure(html, "failed")[1]).content.decode()
    assert f"/admin/reminders/reminder/{Reminder.objects.get().pk}/change/" in failed


def test_missed_nights_are_the_catch_ups_own_and_shown_in_red(admin_page):
    night(TODAY - 3 * DAY)  # then two nights with no scan: TODAY-2, TODAY-1

    html = admin_page()

    assert '<p class="morning-state bad" role="alert">2 nights were missed: ' in html
    assert "2026-05-09, 2026-05-10 have no completed scan" in html
    assert "No night was missed." not in html
    assert "Today's scan has not completed yet" in html


def test_a_night_caught_up_late_counts_as_missed(admin_page):
    night(TODAY - 2 * DAY)
    night(TODAY - DAY, caught_up=True)
    night(TODAY)

    html = admin_page()

    assert "Missed and caught up late: 2026-05-10." in html
    assert "No night was missed." not in html


def test_a_scan_that_did_not_complete_is_red_with_its_error(admin_page):
    night(TODAY - DAY)
    night(TODAY, finished=False, errors="chunk 3: gateway down")

    html = admin_page()

    assert "The last scan, of 2026-05-11, did not complete." in html
    assert "chunk 3: gateway down" in html


def test_the_oldest_pending_reminder_whose_time_came_gives_its_age(admin_page):
    run = night(TODAY)
    plan = make_plan(first_due_date=TODAY - 20 * DAY, today=TODAY - 40 * DAY)
    reminder(plan, run, ReminderStatus.PENDING, scheduled_for=moment(TODAY, 6))
    # Held for quiet hours until later today: not late, not counted.
    reminder(plan, run, ReminderStatus.PENDING, scheduled_for=moment(TODAY, 20), channel="sms")

    html = admin_page()

    assert "<strong>3\xa0hours</strong> the oldest pending reminder has waited" in html


def test_the_morning_page_speaks_hindi(admin_page):
    night(TODAY - 3 * DAY)
    html = admin_page("hi")
    assert "रात का स्कैन" in html
    assert "रातें छूट गईं" in html


def test_staff_without_the_scan_runs_permission_get_djangos_plain_index(client):
    client.force_login(UserFactory(is_staff=True))
    html = client.get("/admin/").content.decode()
    assert 'class="morning"' not in html
    assert "Site administration" in html


def test_the_morning_checks_record_of_a_night_that_never_started_is_no_run_of_it(admin_page):
    night(TODAY - DAY)
    check = night(TODAY, finished=False, errors="The scan of 2026-05-11 did not start.")
    ScanRun.objects.filter(pk=check.pk).update(trigger="check", started_at=moment(TODAY, 6))
    late = night(TODAY, cancelled=2)  # run by hand at 09:00
    ScanRun.objects.filter(pk=late.pk).update(
        trigger="command", started_at=moment(TODAY, 9), finished_at=moment(TODAY, 9)
    )
    html = admin_page()
    assert "<dd>2026-05-11 09:00</dd>" in html  # started with the run, not the check
    assert "<dd>2026-05-11 06:00</dd>" not in html
    assert "runs of 2026-05-11" not in html
    assert figure(html, "plans cancelled")[0] == "2"
