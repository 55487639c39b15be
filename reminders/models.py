"""The reminder outbox, the cadence, the editable texts, opt-outs and the record of each scan.

A reminder is a row first (the outbox) and a Celery message second: the row is the truth,
the message only says "look at row N". Nothing is lost when the broker is down, and a
database constraint makes a second copy of one reminder impossible, however many scans run.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.template import Template, TemplateSyntaxError
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    EMAIL = "email", _("email")
    SMS = "sms", _("SMS")
    MESSENGER = "messenger", _("messenger")


# Which contact field of the investor each channel delivers to.
CHANNEL_ADDRESS = {
    Channel.EMAIL: "email",
    Channel.SMS: "phone",
    Channel.MESSENGER: "messenger",
}


class Recipient(models.TextChoices):
    INVESTOR = "investor", _("the investor")
    PARTICIPANT = "participant", _("the participant who brought the investor")


class Trigger(models.TextChoices):
    DUE_DATE = "due_date", _("days from the due date of the oldest unpaid installment")
    CANCELLED = "cancelled", _("the plan is cancelled")
    DIGEST = "digest", _("the participant's daily digest")
    # Never queued by the scan: written when an investor asks for help (structure.help).
    HELP_REQUEST = "help_request", _("an investor asked their participant for help")
    # Never queued by the scan: written when staff invite an investor to sign in (investors).
    INVITATION = "invitation", _("an investor is invited to sign in")


def validate_template_text(value: str) -> None:
    try:
        Template(value)
    except TemplateSyntaxError as error:
        raise ValidationError(
            _("The text is not a valid template: %(error)s"), params={"error": error}
        ) from None


class CadenceStepQuerySet(models.QuerySet):
    def active(self) -> CadenceStepQuerySet:
        return self.filter(is_active=True)


class CadenceStep(models.Model):
    """One moment of the cadence, editable in the admin: when, to whom, by which channels.

    `code` is the reminder's kind (the outbox's uniqueness rule and the API's `kind` filter
    use it) and names the texts in MessageTemplate.
    """

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    trigger = models.CharField(
        _("trigger"), max_length=16, choices=Trigger.choices, default=Trigger.DUE_DATE
    )
    offset_days = models.SmallIntegerField(
        _("days from the due date"),
        default=0,
        help_text=_(
            "−3: three days before the due date; 0: on it; 7: a week after. A step's message "
            "stays true until the next step's day, so a scan that missed nights sends only "
            "the step still true."
        ),
    )
    recipient = models.CharField(
        _("recipient"), max_length=16, choices=Recipient.choices, default=Recipient.INVESTOR
    )
    by_email = models.BooleanField(_("email"), default=True)
    by_sms = models.BooleanField(_("SMS"), default=False)
    by_messenger = models.BooleanField(_("messenger"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    objects = CadenceStepQuerySet.as_manager()

    class Meta:
        ordering = ["trigger", "offset_days", "code"]
        verbose_name = _("cadence step")
        verbose_name_plural = _("cadence steps")

    def __str__(self) -> str:
        return self.name

    @property
    def channels(self) -> list[str]:
        flags = [
            (Channel.EMAIL, self.by_email),
            (Channel.SMS, self.by_sms),
            (Channel.MESSENGER, self.by_messenger),
        ]
        return [channel.value for channel, on in flags if on]


class MessageTemplate(models.Model):
    """The words of one cadence step in one language, editable without a deploy.

    Rendered with Django's template engine (no HTML escaping: these are plain texts). English
    is the fallback for a language without its own row.
    """

    step = models.ForeignKey(
        CadenceStep, on_delete=models.CASCADE, related_name="templates", verbose_name=_("step")
    )
    language = models.CharField(_("language"), max_length=8)
    subject = models.CharField(
        _("email subject"), max_length=200, validators=[validate_template_text]
    )
    body = models.TextField(_("email text"), validators=[validate_template_text])
    short_text = models.TextField(
        _("SMS and messenger text"),
        validators=[validate_template_text],
        help_text=_("Keep it short: an SMS holds about 160 Latin or 70 Devanagari characters."),
    )

    class Meta:
        ordering = ["step", "language"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(fields=["step", "language"], name="template_step_language_uq")
        ]

    def __str__(self) -> str:
        return f"{self.step.code} · {self.language}"


class ChannelOptOut(models.Model):
    """The investor asked not to be reached on this channel."""

    investor = models.ForeignKey(
        "clients.Investor", on_delete=models.CASCADE, related_name="opt_outs"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("channel opt-out")
        verbose_name_plural = _("channel opt-outs")
        constraints = [
            models.UniqueConstraint(fields=["investor", "channel"], name="opt_out_investor_uq")
        ]

    def __str__(self) -> str:
        return f"{self.investor} · no {self.get_channel_display()}"


class ReminderStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    SKIPPED = "skipped", _("skipped")
    # A worker died while sending on a channel that cannot drop a repeat (SMTP): the message
    # may or may not have gone out. Never resent by itself; an admin decides (README).
    UNCERTAIN = "uncertain", _("uncertain: may have been sent")


class ReminderQuerySet(models.QuerySet):
    def due_for_dispatch(self, *, now, stale_before) -> ReminderQuerySet:
        """Pending rows whose time has come and that no message is known to be carrying:
        never handed over, or handed over before `stale_before` and still not taken (the
        broker was down, a worker died holding the message). Also rows whose sending claim
        expired: the worker that claimed them died mid-send."""
        waiting = models.Q(status=ReminderStatus.PENDING, scheduled_for__lte=now) & (
            models.Q(dispatched_at__isnull=True) | models.Q(dispatched_at__lt=stale_before)
        )
        abandoned = models.Q(status=ReminderStatus.SENDING, claimed_until__lt=now)
        return self.filter(waiting | abandoned)


class Reminder(models.Model):
    """One message to one recipient on one channel: the outbox row."""

    recipient = models.ForeignKey(
        "clients.Investor",
        on_delete=models.PROTECT,
        related_name="reminders",
        verbose_name=_("recipient"),
    )
    kind = models.SlugField(_("kind"), max_length=40, help_text=_("The cadence step's code."))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    plan = models.ForeignKey(
        "installments.Plan",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
        verbose_name=_("plan"),
    )
    installment = models.ForeignKey(
        "installments.Installment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders",
        verbose_name=_("installment"),
    )
    digest_date = models.DateField(_("digest of"), null=True, blank=True)
    queued_on = models.DateField(_("scan date"), help_text=_("The scan that queued it."))
    scheduled_for = models.DateTimeField(
        _("not before"), help_text=_("Quiet hours and retries move it later.")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ReminderStatus.choices, default=ReminderStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    skip_reason = models.CharField(_("why skipped"), max_length=200, blank=True)
    payload = models.JSONField(_("digest contents"), default=dict, blank=True)
    scan_run = models.ForeignKey(
        "ScanRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="reminders"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(_("handed to the workers at"), null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Set just before a send on a channel that cannot drop a repeat, within the claim: a row
    # taken over with it set may have gone out, so it becomes "uncertain" instead of resent.
    send_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = ReminderQuerySet.as_manager()

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-id"]
        constraints = [
            # Exactly one reminder per (recipient, subject, kind, channel): a rescan, a chunk
            # run twice or two scans at once insert with ON CONFLICT DO NOTHING against these.
            models.UniqueConstraint(
                fields=["recipient", "installment", "kind", "channel"],
                condition=models.Q(installment__isnull=False),
                name="reminder_once_per_installment",
            ),
            models.UniqueConstraint(
                fields=["recipient", "plan", "kind", "channel"],
                condition=models.Q(installment__isnull=True, plan__isnull=False),
                name="reminder_once_per_plan",
            ),
            models.UniqueConstraint(
                fields=["recipient", "digest_date", "kind", "channel"],
                condition=models.Q(digest_date__isnull=False),
                name="reminder_once_per_digest",
            ),
            models.CheckConstraint(
                condition=models.Q(plan__isnull=False) | models.Q(digest_date__isnull=False),
                name="reminder_has_a_subject",
            ),
        ]
        indexes = [
            # The periodic re-dispatch: pending (or abandoned) rows by the time they may go.
            models.Index(
                fields=["scheduled_for"],
                name="reminder_waiting_idx",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
            # The chunk's "rows this run inserted" read, and the run's count.
            models.Index(fields=["scan_run", "plan"], name="reminder_run_plan_idx"),
            # The admin's and the API's filters by plan and status.
            models.Index(fields=["plan", "status"], name="reminder_plan_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} · {self.get_channel_display()} · {self.recipient}"


# The `ScanRun.trigger` of the record the morning check makes of a night that never started
# (`reminders.scan.dispatch.scan_check`): it ran nothing.
CHECK_TRIGGER = "check"


class ScanRun(models.Model):
    """One nightly scan (or one night caught up): what it did and whether it finished."""

    scan_date = models.DateField(_("scan date"))
    trigger = models.CharField(_("started by"), max_length=32, default="schedule")
    caught_up = models.BooleanField(
        _("caught up"), default=False, help_text=_("A missed night, run late: cancels only.")
    )
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    plans_cancelled = models.PositiveIntegerField(_("plans cancelled"), default=0)
    reminders_queued = models.PositiveIntegerField(_("reminders queued"), default=0)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    cancelled_since = models.DateField(
        null=True, blank=True, help_text=_("The digest reports plans cancelled since this date.")
    )
    errors = models.TextField(_("errors"), blank=True)
    flagged_at = models.DateTimeField(
        _("flagged as not completed at"), null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["-scan_date", "-id"]
        verbose_name = _("scan run")
        verbose_name_plural = _("scan runs")
        indexes = [
            # "The last completed scan" (catch-up) and "did the scan of D complete" (the check).
            models.Index(fields=["scan_date", "finished_at"], name="scanrun_date_finished_idx"),
        ]

    def __str__(self) -> str:
        return f"Scan of {self.scan_date} (#{self.pk})"

    @property
    def status(self) -> str:
        """Read from the row's facts, never stored: a status column could go stale."""
        if self.errors:
            return "errors"
        return "completed" if self.finished_at else "running"


class ScanChunk(models.Model):
    """A slice of one scan's work, recorded before it is handed to a worker by id: the plan
    ids it covers (or the digest). Running it twice inserts nothing new."""

    run = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    plan_ids = models.JSONField(default=list)
    is_digest = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    # Handed over or running until then (REMINDER_CHUNK_LEASE_SECONDS); after it, with
    # `done_at` still empty, its worker or its in-process run died: the re-dispatch takes it.
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("scan chunk")
        verbose_name_plural = _("scan chunks")
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="scanchunk_run_number_uq")
        ]

    def __str__(self) -> str:
        return f"{self.run} · chunk {self.number}"
