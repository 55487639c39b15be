"""The admin for the reminders: the outbox (read-only, with "try again" for failures), the
cadence and its texts (editable: no deploy needed to change what is sent and when), opt-outs
and the scan runs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from backoffice.lib.admin import ReadOnlyAdminMixin, admin_link, iso_datetime, shown

from .models import (
    CadenceStep,
    ChannelOptOut,
    MessageTemplate,
    Reminder,
    ReminderStatus,
    ScanChunk,
    ScanRun,
)
from .services import reminder_resend, reminder_retry

CONTEXT_HELP = _(
    "Texts are Django templates. Investor messages know: investor_name, plan_id, package, "
    "currency, installment_number, due_date, amount_due, overdue_amount, grace_deadline, "
    "days_left, last_day_to_pay, shares_total, shares_credited, shares_lost, final_shares, "
    "final_fraction, final_percent, cancelled_on, payment_reference, payment_instructions, "
    "participant_name, participant_phone, participant_email, participant_messenger. "
    "The digest knows: participant_name, digest_date, overdue_clients, due_soon_clients, "
    "cancelled_plans, urgent (name, phone, days_left, overdue_amount), more, structure_url."
)


class MessageTemplateInline(admin.StackedInline):
    model = MessageTemplate
    extra = 0
    fields = ["language", "subject", "body", "short_text"]


@admin.register(CadenceStep)
class CadenceStepAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "trigger",
        "offset_days",
        "recipient",
        "by_email",
        "by_sms",
        "by_messenger",
        "is_active",
    ]
    list_editable = ["offset_days", "by_email", "by_sms", "by_messenger", "is_active"]
    list_filter = ["trigger", "recipient", "is_active"]
    inlines = [MessageTemplateInline]

    def get_readonly_fields(self, request, obj=None):
        # The code is the reminders' kind: renaming it would orphan the rows already sent
        # and let the scan send a second copy under the new name.
        return ["code"] if obj else []

    def render_change_form(self, request, context, *args, **kwargs):
        context["subtitle"] = CONTEXT_HELP
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["step", "language", "subject"]
    list_filter = ["step", "language"]
    search_fields = ["subject", "body", "short_text"]

    def render_change_form(self, request, context, *args, **kwargs):
        context["subtitle"] = CONTEXT_HELP
        return super().render_change_form(request, context, *args, **kwargs)


@admin.register(ChannelOptOut)
class ChannelOptOutAdmin(admin.ModelAdmin):
    list_display = ["investor", "channel", "created_at"]
    list_filter = ["channel"]
    search_fields = ["investor__name", "investor__email", "investor__phone"]
    autocomplete_fields = ["investor"]


class FailedFilter(admin.SimpleListFilter):
    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [
            ("failed", _("failed for good")),
            ("retrying", _("retrying")),
            ("uncertain", _("uncertain: may have been sent")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "failed":
            return queryset.filter(status=ReminderStatus.FAILED)
        if self.value() == "retrying":
            return queryset.filter(status=ReminderStatus.PENDING).exclude(last_error="")
        if self.value() == "uncertain":
            return queryset.filter(status=ReminderStatus.UNCERTAIN)
        return None


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "channel",
        "recipient",
        "plan_link",
        "status",
        "attempts",
        "scheduled_for_iso",
        "sent_at_iso",
        "problem",
    ]
    list_filter = [FailedFilter, "status", "channel", "kind", "queued_on"]
    search_fields = ["recipient__name", "recipient__email", "recipient__phone", "=plan__id"]
    list_select_related = ["recipient", "plan"]
    date_hierarchy = "queued_on"
    actions = ["try_again", "resend"]
    fields = [
        "recipient",
        "kind",
        "channel",
        "plan",
        "installment",
        "digest_date",
        "queued_on",
        "scheduled_for",
        "status",
        "attempts",
        "last_error",
        "skip_reason",
        "sent_at",
        "dispatched_at",
        "payload",
        "scan_run",
    ]
    scheduled_for_iso = iso_datetime("scheduled_for", _("not before"))
    sent_at_iso = iso_datetime("sent_at", _("sent at"))

    @admin.display(description=_("plan"))
    def plan_link(self, reminder):
        if reminder.plan_id is None:
            return shown(self, None)
        return admin_link(reminder.plan, f"#{reminder.plan_id}")

    @admin.display(description=_("error or reason"))
    def problem(self, reminder):
        return (reminder.last_error or reminder.skip_reason)[:80]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Try the selected failed reminders again"))
    def try_again(self, request, queryset):
        if not request.user.has_perm("reminders.change_reminder"):
            self.message_user(request, _("You may not resend reminders."), messages.ERROR)
            return
        count = reminder_retry(reminders=queryset, now=timezone.now())
        self.message_user(
            request,
            ngettext(
                "%(count)d failed reminder is pending again.",
                "%(count)d failed reminders are pending again.",
                count,
            )
            % {"count": count},
        )

    @admin.action(description=_("Resend the selected uncertain reminders"))
    def resend(self, request, queryset):
        if not request.user.has_perm("reminders.change_reminder"):
            self.message_user(request, _("You may not resend reminders."), messages.ERROR)
            return
        count = reminder_resend(reminders=queryset, now=timezone.now())
        self.message_user(
            request,
            ngettext(
                "%(count)d uncertain reminder is pending again: it will be sent.",
                "%(count)d uncertain reminders are pending again: they will be sent.",
                count,
            )
            % {"count": count},
        )


class ScanChunkInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ScanChunk
    extra = 0
    fields = ["number", "is_digest", "size", "done_at"]
    readonly_fields = fields

    @admin.display(description=_("plans"))
    def size(self, chunk):
        return len(chunk.plan_ids)


@admin.register(ScanRun)
class ScanRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "scan_date",
        "status",
        "trigger",
        "caught_up",
        "started_at_iso",
        "finished_at_iso",
        "plans_cancelled",
        "reminders_queued",
        "flagged",
    ]
    list_filter = ["caught_up", "trigger", ("flagged_at", admin.EmptyFieldListFilter)]
    date_hierarchy = "scan_date"
    inlines = [ScanChunkInline]
    started_at_iso = iso_datetime("started_at", _("started at"))
    finished_at_iso = iso_datetime("finished_at", _("finished at"))

    @admin.display(description=_("status"))
    def status(self, run):
        return run.status

    @admin.display(description=_("flagged"), boolean=True)
    def flagged(self, run):
        return run.flagged_at is not None
