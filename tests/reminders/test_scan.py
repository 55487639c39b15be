"""The scan queues reminders: once, in their step's window, to the right people, and the
participant's digest (docs/rules.md, reminders). Tasks run eagerly here (no broker in tests)."""

import datetime as dt
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from installments.models import PlanStatus
from installments.services import payment_record, plan_hold
from reminders.channels import LocmemBackend
from reminders.models import ChannelOptOut, Reminder, ScanRun
from reminders.scan import scan
from tests.factories import InvestorFactory, make_plan, participant

from .conftest import business_moment

pytestmark = pytest.mark.django_db

D = dt.date(2025, 3, 10)
DAY = dt.timedelta(days=1)


def kinds(**filters):
    return sorted(Reminder.objects.filter(**filters).values_list("kind", "channel"))


def test_three_days_before_the_due_date_the_investor_gets_the_upcoming_reminder(run_scan):
    plan = make_plan(first_due_date=D, today=D - 30 * DAY)
    run_scan(D - 3 * DAY)
    assert kinds(plan=plan) == [("upcoming", "email"), ("upcoming", "sms")]
    assert set(Reminder.objects.values_list("status", flat=True)) == {"sent"}
    (email,) = mail.outbox
    assert email.to == [plan.investor.email]
    assert "due on 2025-03-10" in email.body
    assert "300.00" in email.body
    (sms,) = LocmemBackend.outbox
    assert sms[1].to == plan.investor.phone


def test_a_second_scan_of_the_same_date_writes_and_sends_nothing(run_scan):
    make_plan(first_due_date=D, today=D - 30 * DAY)
    run_scan(D - 3 * DAY)
    ids = set(Reminder.objects.values_list("pk", flat=True))
    sent = len(mail.outbox)
    run_scan(D - 3 * DAY)
    assert set(Reminder.objects.values_list("pk", flat=True)) == ids
    assert len(mail.outbox) == sent
    assert ScanRun.objects.filter(finished_at__isnull=False, caught_up=False).count() == 2


def test_each_day_of_the_cadence_sends_its_own_level_once(run_scan):
    plan = make_plan(first_due_date=D, today=D - 30 * DAY)
    for offset in range(-4, 20):
        run_scan(D + offset * DAY)
    assert sorted(set(Reminder.objects.filter(plan=plan).values_list("kind", flat=True))) == [
        "due-today",
        "last-warning",
        "overdue",
        "overdue-two-weeks",
        "overdue-week",
        "upcoming",
    ]
    assert Reminder.objects.filter(plan=plan, channel="email").count() == 6


def test_a_paid_installment_gets_no_overdue_reminder(run_scan):
    plan = make_plan(first_due_date=D, today=D - 30 * DAY)
    payment_record(plan=plan, amount="300.00", received_on=D, reference="P1", today=D)
    run_scan(D + DAY)
    assert not Reminder.objects.filter(plan=plan, kind="overdue").exists()


def test_a_plan_on_hold_gets_no_reminder(run_scan):
    plan = make_plan(first_due_date=D, today=D - 30 * DAY)
    plan_hold(plan=plan, until=D + 10 * DAY, reason="Hospital", today=D)
    run_scan(D + DAY)
    assert not Reminder.objects.filter(plan=plan).exists()


def test_the_cancelled_plan_gets_a_notice_with_the_shares_kept_and_lost(run_scan):
    plan = make_plan(first_due_date=D, today=D - 30 * DAY)
    run_scan(D + 20 * DAY)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CANCELLED
    notice = next(m for m in mail.outbox if "cancelled" in m.subject)
    assert "other 3000 of your 3000 shares" in notice.body


def test_catch_up_after_three_missed_nights_sends_only_what_is_still_true(run_scan):
    due_tomorrow = make_plan(first_due_date=D + DAY, today=D - 40 * DAY)
    was_upcoming = make_plan(first_due_date=D - 2 * DAY, today=D - 40 * DAY)
    expired = make_plan(first_due_date=D - 22 * DAY, today=D - 60 * DAY)
    run_scan(D - 4 * DAY)  # the last scan that ran
    Reminder.objects.all().delete()
    mail.outbox.clear()

    run_scan(D)  # nights D-3, D-2, D-1 were missed

    caught_up = ScanRun.objects.filter(caught_up=True).order_by("scan_date")
    assert [r.scan_date for r in caught_up] == [D - 3 * DAY, D - 2 * DAY, D - 1 * DAY]
    expired.refresh_from_db()
    # Cancelled on the night it would have been: its grace deadline was D−3.
    assert expired.cancelled_on == D - 2 * DAY
    assert {r.kind for r in Reminder.objects.filter(plan=due_tomorrow)} == {"upcoming"}
    # Its "due in 3 days" moment passed while nobody scanned: only the overdue one is true.
    assert {r.kind for r in Reminder.objects.filter(plan=was_upcoming)} == {"overdue"}
    assert {r.kind for r in Reminder.objects.filter(plan=expired)} == {"cancelled"}
    assert not any("due on" in m.body and "2025-03-08" in m.body for m in mail.outbox)


def test_an_opted_out_channel_gets_no_reminder(run_scan):
    plan = make_plan(first_due_date=D, today=D - 30 * DAY)
    ChannelOptOut.objects.create(investor=plan.investor, channel="sms")
    run_scan(D - 3 * DAY)
    assert kinds(plan=plan) == [("upcoming", "email")]
    assert LocmemBackend.outbox == []


def test_an_investor_without_a_phone_gets_email_only(run_scan):
    investor = InvestorFactory(phone="")
    make_plan(investor=investor, first_due_date=D, today=D - 30 * DAY)
    run_scan(D - 3 * DAY)
    assert kinds(recipient=investor) == [("upcoming", "email")]


def test_sms_due_at_night_waits_for_the_morning_in_the_recipients_zone(run_scan, settings):
    settings.REMINDER_QUIET_HOURS = "21:00-08:00"
    investor = InvestorFactory(time_zone="Asia/Kathmandu")
    make_plan(investor=investor, first_due_date=D, today=D - 30 * DAY)
    run_scan(D - 3 * DAY, hour=2)  # the nightly scan at 02:00 business time
    email = Reminder.objects.get(channel="email")
    sms = Reminder.objects.get(channel="sms")
    assert email.status == "sent"
    assert sms.status == "pending"
    assert sms.scheduled_for == dt.datetime(2025, 3, 7, 8, 0, tzinfo=investor.zone), (
        "08:00 in Kathmandu"
    )
    assert LocmemBackend.outbox == []


def test_the_reminder_names_the_participant_who_brought_the_investor(run_scan):
    top = participant("top", name="Top Participant")
    near = participant("near", name="Near Participant", sponsor=top, phone="+919811111111")
    middle = InvestorFactory(sponsor=near)
    investor = InvestorFactory(sponsor=middle)
    make_plan(investor=investor, first_due_date=D, today=D - 30 * DAY)
    run_scan(D + DAY)
    (email,) = [m for m in mail.outbox if m.to == [investor.email]]
    assert "Near Participant, +919811111111" in email.body
    assert "Top Participant" not in email.body


def test_a_hindi_investor_reads_hindi_and_a_nepali_one_english(run_scan):
    hindi = InvestorFactory(language="hi")
    nepali = InvestorFactory(language="ne")
    make_plan(investor=hindi, first_due_date=D, today=D - 30 * DAY)
    make_plan(investor=nepali, first_due_date=D, today=D - 30 * DAY)
    run_scan(D + DAY)
    by_address = {m.to[0]: m for m in mail.outbox}
    assert "बकाया" in by_address[hindi.email].body
    assert "overdue" in by_address[nepali.email].body


def test_the_participants_digest_covers_the_whole_structure_and_links_to_it(run_scan):
    boss = participant("boss", name="Boss")
    direct = InvestorFactory(sponsor=boss, name="Direct Client")
    deep = InvestorFactory(sponsor=InvestorFactory(sponsor=direct), name="Deep Client")
    make_plan(investor=direct, first_due_date=D - 17 * DAY, today=D - 60 * DAY)  # 2 days left
    make_plan(investor=deep, first_due_date=D - 5 * DAY, today=D - 60 * DAY)  # 14 days left
    run_scan(D)
    digest = Reminder.objects.get(recipient=boss, kind="digest")
    assert digest.payload["overdue_clients"] == 2
    assert digest.payload["due_soon_clients"] == 1
    assert [c["name"] for c in digest.payload["urgent"]] == ["Direct Client", "Deep Client"]
    (email,) = [m for m in mail.outbox if m.to == [boss.email]]
    assert "/structure/?overdue=true" in email.body
    assert "Direct Client: 2 days left" in email.body


def test_a_date_s_digests_are_written_by_its_first_run_and_a_rerun_builds_none(
    run_scan, monkeypatch
):
    boss = participant("boss", name="Boss")
    make_plan(investor=InvestorFactory(sponsor=boss), first_due_date=D - 5 * DAY, today=D)
    run_scan(D)
    assert Reminder.objects.filter(recipient=boss, kind="digest").count() == 1
    # A client of a second participant falls overdue by hand the same day (a plan brought in
    # with a past first due date): the rerun of the date does not build the digests again.
    late = participant("late", name="Late")
    make_plan(investor=InvestorFactory(sponsor=late), first_due_date=D - 5 * DAY, today=D)
    built = []
    monkeypatch.setattr(
        "reminders.scan.dispatch.digest_rows", lambda **kwargs: built.append(kwargs) or []
    )
    run_scan(D)
    assert built == []
    assert not Reminder.objects.filter(recipient=late).exists()
    assert ScanRun.objects.filter(scan_date=D, finished_at__isnull=False).count() == 2


def test_a_rerun_writes_the_digests_a_failed_digest_chunk_left_unwritten(run_scan, monkeypatch):
    boss = participant("boss", name="Boss")
    make_plan(investor=InvestorFactory(sponsor=boss), first_due_date=D - 5 * DAY, today=D)

    def broken(**kwargs):
        raise RuntimeError("the digest failed")

    monkeypatch.setattr("reminders.scan.dispatch.digest_rows", broken)
    with pytest.raises(RuntimeError):
        run_scan(D)
    assert not Reminder.objects.filter(recipient=boss).exists()
    monkeypatch.undo()
    run_scan(D)
    assert Reminder.objects.filter(recipient=boss, kind="digest").count() == 1


def test_a_rerun_that_cancels_plans_builds_the_digests_of_those_cancellations(run_scan):
    boss = participant("boss", name="Boss")
    make_plan(investor=InvestorFactory(sponsor=boss), first_due_date=D - 5 * DAY, today=D)
    run_scan(D)
    # A plan brought in the same day already past its grace deadline: the rerun cancels it.
    gone = participant("gone", name="Gone")
    plan = make_plan(investor=InvestorFactory(sponsor=gone), first_due_date=D - 30 * DAY, today=D)
    run_scan(D)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CANCELLED
    digest = Reminder.objects.get(recipient=gone, kind="digest")
    assert digest.payload["cancelled_plans"] == 1
    assert Reminder.objects.filter(recipient=boss, kind="digest").count() == 1


def test_a_run_that_caught_up_nights_builds_its_digest_after_a_rerun_built_one(
    run_scan, monkeypatch
):
    """Run A of D catches up D-2 and D-1 (a plan cancelled on D-2) and its digest chunk
    fails; the rerun B of D reports from D only. When A's chunk is run again, A's digest still
    tells the participant of the cancellation B did not cover."""
    from reminders.models import ScanChunk
    from reminders.scan import scan_chunk_run

    gone = participant("gone", name="Gone")
    run_scan(D - 3 * DAY)
    # Its grace deadline is D-3: the scan of D-2 cancels it.
    plan = make_plan(
        investor=InvestorFactory(sponsor=gone),
        first_due_date=D - 22 * DAY,
        today=D - 40 * DAY,
    )

    def broken(**kwargs):
        raise RuntimeError("the digest failed")

    monkeypatch.setattr("reminders.scan.dispatch.digest_rows", broken)
    with pytest.raises(RuntimeError):
        run_scan(D)
    monkeypatch.undo()
    plan.refresh_from_db()
    assert plan.cancelled_on == D - 2 * DAY
    first = ScanRun.objects.get(scan_date=D, caught_up=False, cancelled_since=D - 2 * DAY)
    run_scan(D)
    assert not Reminder.objects.filter(recipient=gone).exists()
    chunk = ScanChunk.objects.get(run=first, is_digest=True)
    scan_chunk_run(chunk_id=chunk.pk, now=business_moment(D, 13))
    digest = Reminder.objects.get(recipient=gone, kind="digest")
    assert digest.payload["cancelled_plans"] == 1


def test_a_participant_with_nothing_to_report_gets_no_digest(run_scan):
    boss = participant("calm")
    make_plan(investor=InvestorFactory(sponsor=boss), first_due_date=D, today=D - 30 * DAY)
    run_scan(D - 3 * DAY)
    assert not Reminder.objects.filter(recipient=boss).exists()


def test_the_digest_is_capped_to_the_most_urgent_names(run_scan, settings):
    settings.REMINDER_DIGEST_NAMES = 2
    boss = participant("busy")
    for k in range(4):
        make_plan(
            investor=InvestorFactory(sponsor=boss),
            first_due_date=D - (10 + k) * DAY,
            today=D - 60 * DAY,
        )
    run_scan(D)
    digest = Reminder.objects.get(recipient=boss, kind="digest")
    assert [c["days_left"] for c in digest.payload["urgent"]] == [6, 7]
    assert digest.payload["more"] == 2


def test_the_scan_splits_the_plans_into_chunks_and_closes_its_run(run_scan, settings):
    settings.REMINDER_CHUNK_SIZE = 2
    for _ in range(5):
        make_plan(first_due_date=D, today=D - 30 * DAY)
    report = run_scan(D - 3 * DAY)
    run = ScanRun.objects.get(pk=report.run.pk)
    assert run.chunks.count() == 4  # three of plans, one for the digests
    assert run.finished_at is not None
    assert run.reminders_queued == 10
    assert run.status == "completed"


def test_queueing_reads_a_bounded_number_of_queries_whatever_the_number_of_plans(
    django_assert_max_num_queries, settings
):
    settings.REMINDER_CHUNK_SIZE = 1000
    for _ in range(30):
        make_plan(first_due_date=D, today=D - 30 * DAY)
    now = business_moment(D - 3 * DAY)
    # Hand-over is captured, not run: this counts the cancelling and the row writing (and
    # each chunk's lease, taken as it starts).
    with django_assert_max_num_queries(45):
        scan(scan_date=D - 3 * DAY, now=now)
        from reminders.scan import scan_chunk_run

        for chunk in ScanRun.objects.get().chunks.all():
            scan_chunk_run(chunk_id=chunk.pk, now=now)
    assert Reminder.objects.count() == 60


def test_scan_overdue_prints_the_cancellations_and_the_reminders(run_scan, at):
    make_plan(first_due_date=D, today=D - 30 * DAY)
    out = StringIO()
    at(D + 20 * DAY, lambda: call_command("scan_overdue", stdout=out))
    assert "cancelled 1 plan(s)" in out.getvalue()
    assert "Reminders:" in out.getvalue()


def test_scan_overdue_dry_run_counts_the_reminders_and_writes_nothing(at):
    make_plan(first_due_date=D, today=D - 30 * DAY)
    out = StringIO()
    at(D - 3 * DAY, lambda: call_command("scan_overdue", "--dry-run", stdout=out))
    assert "Would queue 2 reminder(s) (0 more found are in the outbox already)" in out.getvalue()
    assert not Reminder.objects.exists()
    assert not ScanRun.objects.exists()


def test_a_dry_run_counts_what_the_scan_then_queues_cancellation_notices_and_digests_too(
    run_scan, at
):
    boss = participant("boss", name="Boss")
    plan = make_plan(investor=InvestorFactory(sponsor=boss), first_due_date=D - 30 * DAY, today=D)
    make_plan(investor=InvestorFactory(sponsor=boss), first_due_date=D - 5 * DAY, today=D)
    out = StringIO()
    at(D, lambda: call_command("scan_overdue", "--dry-run", stdout=out))
    plan.refresh_from_db()
    assert plan.status == PlanStatus.ACTIVE  # rolled back
    assert not Reminder.objects.exists() and not ScanRun.objects.exists()
    run_scan(D)
    queued = Reminder.objects.count()
    assert {"cancelled", "digest"} <= set(Reminder.objects.values_list("kind", flat=True))
    assert f"would cancel 1 plan(s). Would queue {queued} reminder(s)" in out.getvalue()


def test_a_dry_run_after_the_scan_counts_only_what_the_outbox_does_not_hold(run_scan, at):
    make_plan(first_due_date=D, today=D - 30 * DAY)
    run_scan(D - 3 * DAY)
    queued = Reminder.objects.count()
    assert queued == 2
    out = StringIO()
    at(D - 3 * DAY, lambda: call_command("scan_overdue", "--dry-run", stdout=out))
    assert "Would queue 0 reminder(s) (2 more found are in the outbox already)" in out.getvalue()
    assert Reminder.objects.count() == queued
