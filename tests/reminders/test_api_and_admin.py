"""`GET /api/reminders/`, the admin pages of the reminders, and the defaults seeded by the
migrations (cadence, texts, beat schedule)."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from reminders.models import CadenceStep, MessageTemplate, Reminder, ReminderStatus, ScanRun
from reminders.scan import scan_check
from tests.factories import InvestorFactory, make_plan, participant

pytestmark = pytest.mark.django_db

D = dt.date(2025, 3, 10)
DAY = dt.timedelta(days=1)


@pytest.fixture
def outbox(participant_investor):
    """Reminders to a client in the participant's structure and to an outsider."""
    client = InvestorFactory(sponsor=InvestorFactory(sponsor=participant_investor))
    outsider = InvestorFactory()
    mine = make_plan(investor=client, first_due_date=D)
    theirs = make_plan(investor=outsider, first_due_date=D)

    def row(plan, kind="overdue", channel="email", status="sent"):
        return Reminder.objects.create(
            recipient=plan.investor,
            plan=plan,
            installment=plan.installments.first(),
            kind=kind,
            channel=channel,
            status=status,
            queued_on=D,
            scheduled_for=timezone.now(),
        )

    return {
        "mine": row(mine),
        "mine_sms": row(mine, channel="sms", status="failed"),
        "theirs": row(theirs, kind="upcoming"),
    }


def ids(response):
    assert response.status_code == 200, response.content
    return {r["id"] for r in response.json()["results"]}


def test_staff_see_every_reminder(staff_client, outbox):
    assert ids(staff_client.get("/api/reminders/")) == {r.pk for r in outbox.values()}


def test_a_participant_sees_only_reminders_about_their_structure(participant_client, outbox):
    assert ids(participant_client.get("/api/reminders/")) == {
        outbox["mine"].pk,
        outbox["mine_sms"].pk,
    }
    outside = participant_client.get(f"/api/reminders/{outbox['theirs'].pk}/")
    assert outside.status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=upcoming", {"theirs"}),
        ("status=failed", {"mine_sms"}),
        ("channel=sms", {"mine_sms"}),
    ],
)
def test_reminders_filter_by_kind_status_and_channel(staff_client, outbox, query, expected):
    assert ids(staff_client.get(f"/api/reminders/?{query}")) == {outbox[k].pk for k in expected}


def test_reminders_filter_by_plan_and_investor(staff_client, outbox):
    mine = outbox["mine"]
    assert ids(staff_client.get(f"/api/reminders/?plan={mine.plan_id}")) == {
        mine.pk,
        outbox["mine_sms"].pk,
    }
    theirs = outbox["theirs"]
    assert ids(staff_client.get(f"/api/reminders/?investor={theirs.recipient_id}")) == {theirs.pk}


@pytest.mark.parametrize(
    "query",
    ["status=lost", "channel=pigeon", "plan=abc", "investor=x", "kind=no such", f"kind={'k' * 41}"],
)
def test_a_bad_filter_is_a_400_with_the_field_named(staff_client, outbox, query):
    response = staff_client.get(f"/api/reminders/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_the_api_is_read_only_and_closed_to_strangers(staff_client, anonymous_client):
    assert staff_client.post("/api/reminders/", {}).status_code == 405
    assert anonymous_client.get("/api/reminders/").status_code in (401, 403)


def test_the_reminder_carries_the_fields_of_the_outbox(staff_client, outbox):
    row = staff_client.get(f"/api/reminders/{outbox['mine'].pk}/").json()
    assert row["investor"] == outbox["mine"].recipient_id
    assert row["plan"] == outbox["mine"].plan_id
    assert (row["kind"], row["channel"], row["status"]) == ("overdue", "email", "sent")


def test_the_migrations_seed_the_cadence_and_texts_in_english_and_hindi():
    steps = dict(CadenceStep.objects.values_list("code", "offset_days"))
    assert {
        k: steps[k] for k in steps if k not in ("cancelled", "digest", "help-request", "invitation")
    } == {
        "upcoming": -3,
        "due-today": 0,
        "overdue": 1,
        "overdue-week": 7,
        "overdue-two-weeks": 14,
        "last-warning": 18,
    }
    assert {"cancelled", "digest", "help-request", "invitation"} <= set(steps)
    help_step = CadenceStep.objects.get(code="help-request")
    assert (help_step.trigger, help_step.recipient) == ("help_request", "participant")
    for step in CadenceStep.objects.all():
        assert set(step.templates.values_list("language", flat=True)) >= {"en", "hi"}


def test_the_migrations_seed_the_beat_schedule_with_the_scan_at_two_business_time(settings):
    tasks = {t.task: t for t in PeriodicTask.objects.all()}
    nightly = tasks["reminders.scan_nightly"]
    assert (nightly.crontab.hour, nightly.crontab.minute) == ("2", "0")
    assert str(nightly.crontab.timezone) == settings.TIME_ZONE
    assert tasks["reminders.redispatch"].interval.every == 5
    assert tasks["reminders.check_scan"].crontab.hour == "6"


def test_the_check_flags_a_scan_that_did_not_complete_once(mailoutbox, settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    now = timezone.now()
    flagged = scan_check(scan_date=D, now=now)
    assert flagged.flagged_at == now and "had not completed" in flagged.errors
    assert len(mailoutbox) == 1
    assert scan_check(scan_date=D, now=now) is None
    ScanRun.objects.create(scan_date=D + DAY, finished_at=now)
    assert scan_check(scan_date=D + DAY, now=now) is None


def test_admin_pages_of_the_reminders_open(admin_client, outbox):
    step = CadenceStep.objects.get(code="overdue")
    pages = [
        reverse("admin:reminders_reminder_changelist"),
        reverse("admin:reminders_reminder_changelist") + "?attention=failed",
        reverse("admin:reminders_reminder_change", args=[outbox["mine"].pk]),
        reverse("admin:reminders_cadencestep_changelist"),
        reverse("admin:reminders_cadencestep_change", args=[step.pk]),
        reverse("admin:reminders_messagetemplate_changelist"),
        reverse("admin:reminders_scanrun_changelist"),
        reverse("admin:reminders_channeloptout_changelist"),
    ]
    for page in pages:
        assert admin_client.get(page).status_code == 200, page


def test_a_template_with_a_syntax_error_is_a_form_error_in_the_admin(admin_client):
    template = MessageTemplate.objects.get(step__code="overdue", language="en")
    url = reverse("admin:reminders_messagetemplate_change", args=[template.pk])
    response = admin_client.post(
        url,
        {
            "step": template.step_id,
            "language": "en",
            "subject": "Pay {% if %}",
            "body": template.body,
            "short_text": template.short_text,
        },
    )
    assert response.status_code == 200
    assert "not a valid template" in response.content.decode()


def test_failed_reminders_can_be_tried_again_from_the_admin(admin_client, outbox):
    failed = outbox["mine_sms"]
    admin_client.post(
        reverse("admin:reminders_reminder_changelist"),
        {"action": "try_again", "_selected_action": [failed.pk]},
    )
    failed.refresh_from_db()
    assert failed.status == ReminderStatus.PENDING
    assert failed.attempts == 0


def test_a_participants_own_digest_is_visible_to_them(participant_client, participant_investor):
    digest = Reminder.objects.create(
        recipient=participant_investor,
        kind="digest",
        channel="email",
        digest_date=D,
        queued_on=D,
        scheduled_for=timezone.now(),
    )
    other = participant("other")
    Reminder.objects.create(
        recipient=other,
        kind="digest",
        channel="email",
        digest_date=D,
        queued_on=D,
        scheduled_for=timezone.now(),
    )
    assert ids(participant_client.get("/api/reminders/")) == {digest.pk}
