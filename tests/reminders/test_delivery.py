"""Delivering one outbox row: claimed once, skipped when no longer true, retried with backoff,
failures recorded (docs/rules.md, reminders)."""

import datetime as dt

import pytest
import time_machine
from django.core import mail

from installments.services import payment_record, plan_hold
from reminders import channels
from reminders.models import ChannelOptOut, Reminder, ReminderStatus
from reminders.scan import scan
from reminders.services import reminder_deliver, reminders_redispatch
from tests.factories import make_plan

from .conftest import business_moment

pytestmark = pytest.mark.django_db

D = dt.date(2025, 3, 10)
DAY = dt.timedelta(days=1)


@pytest.fixture
def queued():
    """A plan one day overdue whose reminders are rows, not yet handed to anyone."""
    plan = make_plan(first_due_date=D, today=D - 30 * DAY)
    now = business_moment(D + DAY)
    scan(scan_date=D + DAY, now=now)  # on-commit hand-over is not run in these tests
    from reminders.models import ScanChunk
    from reminders.scan import scan_chunk_run

    for chunk in ScanChunk.objects.all():
        scan_chunk_run(chunk_id=chunk.pk, now=now)
    email = Reminder.objects.get(plan=plan, channel="email", kind="overdue")
    return plan, email, now


def deliver(reminder, now):
    result = reminder_deliver(reminder_id=reminder.pk, now=now)
    reminder.refresh_from_db()
    return result.outcome


def test_a_pending_reminder_is_sent_once_and_a_second_message_does_nothing(queued):
    _, email, now = queued
    assert deliver(email, now) == "sent"
    assert email.status == ReminderStatus.SENT and email.attempts == 1
    assert deliver(email, now) == "done"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["Message-ID"].startswith(f"<reminder-{email.pk}@")


def test_an_installment_paid_before_the_send_is_skipped_not_sent(queued):
    plan, email, now = queued
    payment_record(plan=plan, amount="300.00", received_on=D + DAY, reference="X", today=D + DAY)
    assert deliver(email, now) == "skipped"
    assert "was paid" in email.skip_reason
    assert mail.outbox == []


def test_a_plan_put_on_hold_before_the_send_is_skipped(queued):
    plan, email, now = queued
    plan_hold(plan=plan, until=D + 9 * DAY, reason="Travelling", today=D + DAY)
    assert deliver(email, now) == "skipped"
    assert "on hold" in email.skip_reason


def test_an_opt_out_after_queueing_is_respected(queued):
    plan, email, now = queued
    ChannelOptOut.objects.create(investor=plan.investor, channel="email")
    assert deliver(email, now) == "skipped"
    assert "opted out" in email.skip_reason
    assert mail.outbox == []


def test_a_reminder_whose_moment_has_passed_is_skipped_as_no_longer_true(queued):
    _, email, _ = queued
    # The broker was down for a week: "overdue, D+1" is not what D+8 should say.
    assert deliver(email, business_moment(D + 8 * DAY)) == "skipped"
    assert "no longer true" in email.skip_reason


def test_a_transport_error_puts_the_reminder_back_with_backoff(queued, monkeypatch, settings):
    settings.REMINDER_RETRY_SECONDS = 60

    def down(message):
        raise channels.TransportError("connection refused")

    monkeypatch.setattr(channels, "send_email", down)
    _, email, now = queued
    result = reminder_deliver(reminder_id=email.pk, now=now)
    email.refresh_from_db()
    assert (result.outcome, result.retry_in) == ("retry", 60)
    assert email.status == ReminderStatus.PENDING
    assert email.scheduled_for == now + dt.timedelta(seconds=60)
    assert email.last_error == "connection refused"
    # Not before its time, even if a message arrives early.
    assert deliver(email, now + dt.timedelta(seconds=30)) == "not_due"
    later = now + dt.timedelta(seconds=61)
    assert reminder_deliver(reminder_id=email.pk, now=later).retry_in == 120


def test_a_reminder_that_keeps_failing_is_recorded_as_failed(queued, monkeypatch, settings):
    settings.REMINDER_MAX_ATTEMPTS = 2

    def down(message):
        raise channels.TransportError("timeout")

    monkeypatch.setattr(channels, "send_email", down)
    _, email, now = queued
    deliver(email, now)
    assert deliver(email, now + dt.timedelta(hours=1)) == "failed"
    assert email.status == ReminderStatus.FAILED
    assert "gave up: timeout" in email.last_error


def test_a_permanent_refusal_fails_at_once(queued, monkeypatch):
    def refused(message):
        raise channels.PermanentError("no such mailbox")

    monkeypatch.setattr(channels, "send_email", refused)
    _, email, now = queued
    assert deliver(email, now) == "failed"
    assert email.attempts == 1 and email.last_error == "no such mailbox"


def test_a_claim_held_by_a_living_worker_is_not_taken_over(queued):
    _, email, now = queued
    Reminder.objects.filter(pk=email.pk).update(
        status=ReminderStatus.SENDING, claimed_until=now + dt.timedelta(minutes=5)
    )
    assert deliver(email, now) == "taken"
    assert mail.outbox == []


def test_a_claim_abandoned_by_a_dead_worker_is_taken_over_after_its_lease(queued):
    _, email, now = queued
    Reminder.objects.filter(pk=email.pk).update(
        status=ReminderStatus.SENDING, claimed_until=now - dt.timedelta(seconds=1), attempts=1
    )
    assert deliver(email, now) == "sent"
    assert email.attempts == 2


def test_at_night_a_reminder_waits_for_the_morning_without_an_eta(queued, settings):
    settings.REMINDER_QUIET_HOURS = "21:00-08:00"
    settings.REMINDER_QUIET_CHANNELS = ["email", "sms"]
    _, email, _ = queued
    night = business_moment(D + DAY, hour=23)
    assert deliver(email, night) == "deferred"
    assert email.status == ReminderStatus.PENDING
    assert email.scheduled_for == business_moment(D + 2 * DAY, hour=8)
    assert email.dispatched_at is None


def test_the_redispatch_hands_over_rows_whose_time_came_and_abandoned_claims(queued, at):
    plan, email, now = queued
    sms = Reminder.objects.get(plan=plan, channel="sms")
    Reminder.objects.filter(pk=sms.pk).update(
        status=ReminderStatus.SENDING, claimed_until=now - dt.timedelta(seconds=1)
    )
    Reminder.objects.filter(pk=email.pk).update(scheduled_for=now + dt.timedelta(hours=1))
    # Eager tasks: handing over delivers in-process.
    assert at(D + DAY, lambda: reminders_redispatch(now=now)) == 1
    sms.refresh_from_db()
    email.refresh_from_db()
    assert sms.status == ReminderStatus.SENT
    assert email.status == ReminderStatus.PENDING


@pytest.fixture
def queued_many():
    """Six plans one day overdue, their reminders rows (email and SMS each), not handed over."""
    plans = [make_plan(first_due_date=D, today=D - 30 * DAY) for _ in range(6)]
    now = business_moment(D + DAY)
    scan(scan_date=D + DAY, now=now)
    from reminders.models import ScanChunk
    from reminders.scan import scan_chunk_run

    for chunk in ScanChunk.objects.all():
        scan_chunk_run(chunk_id=chunk.pk, now=now)
    return plans, now


def test_a_batch_sends_what_is_still_true_and_skips_the_paid_one(queued_many):
    from reminders.services import reminders_deliver

    plans, now = queued_many
    paid = plans[0]
    payment_record(plan=paid, amount="300.00", received_on=D + DAY, reference="B", today=D + DAY)
    ids = list(Reminder.objects.values_list("pk", flat=True))

    results = reminders_deliver(reminder_ids=ids, now=now)

    skipped = {pk for pk, delivery in results.items() if delivery.outcome == "skipped"}
    assert skipped == set(Reminder.objects.filter(plan=paid).values_list("pk", flat=True))
    assert len(mail.outbox) == 5
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == 10
    # A second message with the same ids finds every row finished.
    again = reminders_deliver(reminder_ids=ids, now=now)
    assert {delivery.outcome for delivery in again.values()} == {"done"}
    assert len(mail.outbox) == 5


def test_a_batch_costs_a_few_queries_plus_one_per_reminder(
    queued_many, django_assert_max_num_queries
):
    from reminders.services import reminders_deliver

    _, now = queued_many
    ids = list(Reminder.objects.values_list("pk", flat=True))
    assert len(ids) == 12
    # Read, claim, about eight reads of the facts, then per reminder sent two UPDATEs: on a
    # channel that cannot drop a repeat the row is marked before the send, recorded after.
    with django_assert_max_num_queries(12 + 2 * len(ids)):
        results = reminders_deliver(reminder_ids=ids, now=now)
    assert {delivery.outcome for delivery in results.values()} == {"sent"}


def test_a_row_another_delivery_holds_is_left_to_it_in_a_batch(queued_many):
    from reminders.services import reminders_deliver

    _, now = queued_many
    held, *rest = Reminder.objects.order_by("pk").values_list("pk", flat=True)
    Reminder.objects.filter(pk=held).update(
        status=ReminderStatus.SENDING, claimed_until=now + dt.timedelta(minutes=5)
    )
    results = reminders_deliver(reminder_ids=[held, *rest], now=now)
    assert results[held].outcome == "taken"
    assert {results[pk].outcome for pk in rest} == {"sent"}
    assert Reminder.objects.get(pk=held).status == ReminderStatus.SENDING


# ---------------------------------------------------------------------------- the guarantee


def left_mid_send(reminder, now, *, began: bool):
    """The state a worker killed while sending leaves: claimed, lease run out, and (when the
    send had begun) the mark set just before it."""
    Reminder.objects.filter(pk=reminder.pk).update(
        status=ReminderStatus.SENDING,
        attempts=1,
        claimed_until=now - dt.timedelta(seconds=1),
        send_started_at=now - dt.timedelta(minutes=5) if began else None,
    )


def test_an_email_whose_worker_died_while_sending_is_uncertain_and_not_sent_again(queued):
    _, email, now = queued
    left_mid_send(email, now, began=True)

    assert deliver(email, now) == "uncertain"
    assert email.status == ReminderStatus.UNCERTAIN
    assert "may have gone out" in email.last_error
    reminders_redispatch(now=now + DAY)  # never resent by itself
    email.refresh_from_db()
    assert email.status == ReminderStatus.UNCERTAIN
    assert len(mail.outbox) == 0


def test_an_email_claimed_by_a_dead_worker_that_never_began_sending_it_is_sent(queued):
    _, email, now = queued
    left_mid_send(email, now, began=False)
    assert deliver(email, now) == "sent"
    assert len(mail.outbox) == 1


def test_a_channel_chosen_at_least_once_sends_the_uncertain_message_again(queued, settings):
    settings.REMINDER_AT_LEAST_ONCE_CHANNELS = ["email"]
    _, email, now = queued
    left_mid_send(email, now, began=True)
    assert deliver(email, now) == "sent"
    assert len(mail.outbox) == 1


def test_a_gateway_with_an_idempotency_key_is_retried_with_the_same_key(queued, settings):
    settings.SMS_BACKEND = "reminders.channels.HttpSmsGateway"
    plan, _, now = queued
    sms = Reminder.objects.get(plan=plan, channel="sms")
    left_mid_send(sms, now, began=True)
    posted = []
    settings.SMS_GATEWAY_URL = "http://gateway.invalid/sms"
    original = channels.HttpSmsGateway.send
    channels.HttpSmsGateway.send = lambda self, message: posted.append(message.reference)
    try:
        assert deliver(sms, now) == "sent"
    finally:
        channels.HttpSmsGateway.send = original
    assert posted == [f"reminder-{sms.pk}"]


def test_the_admins_resend_sends_an_uncertain_reminder_once(
    queued, django_capture_on_commit_callbacks
):
    from reminders.services import reminder_resend

    _, email, now = queued
    left_mid_send(email, now, began=True)
    deliver(email, now)
    with (
        time_machine.travel(now, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert reminder_resend(reminders=Reminder.objects.all(), now=now) == 1
    email.refresh_from_db()
    assert email.status == ReminderStatus.SENT
    assert len(mail.outbox) == 1
