"""Plans: filters, the read-only parts of a plan, and the buttons and actions that call the
services (record a payment, restore, hold, release, add shares)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import F, Prefetch
from django.http import HttpResponseNotAllowed
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from backoffice.lib.admin import (
    PartInline,
    ServiceViewsMixin,
    admin_link,
    field_label,
    iso_date,
    iso_datetime,
    request_today,
    shown,
)
from backoffice.lib.errors import DomainError

from .. import rules
from ..forms import (
    PaymentRecordForm,
    PlanAddSharesForm,
    PlanCreateForm,
    PlanHoldForm,
    PlanReleaseHoldForm,
    PlanRestoreForm,
    PlanServiceForm,
)
from ..models import (
    Allocation,
    Installment,
    Payment,
    Plan,
    PlanEvent,
    ShareLedgerEntry,
)
from .filters import OnHoldFilter, OverdueFilter


class _InputRefused(Exception):
    """Rolls a changelist action back when the service refuses the input itself."""


class InstallmentInline(PartInline):
    model = Installment
    ordering = ["number"]
    fields = ["number", "due_date_iso", "amount", "paid_amount", "owed", "paid_on_iso"]
    readonly_fields = fields
    due_date_iso = iso_date("due_date", field_label(Installment, "due_date"))
    paid_on_iso = iso_date("paid_on", field_label(Installment, "paid_on"))

    @admin.display(description=_("owed"))
    def owed(self, installment):
        return installment.unpaid


class PlanPaymentInline(PartInline):
    model = Payment
    verbose_name_plural = _("payments and their allocations")
    fields = [
        "reference_link",
        "amount",
        "received_on_iso",
        "allocations",
        "recorded_by",
        "recorded_at_iso",
    ]
    readonly_fields = fields
    received_on_iso = iso_date("received_on", field_label(Payment, "received_on"))
    recorded_at_iso = iso_datetime("recorded_at", _("recorded at"))

    def get_queryset(self, request):
        allocations = Allocation.objects.select_related("installment")
        return (
            super()
            .get_queryset(request)
            .select_related("recorded_by")
            .prefetch_related(Prefetch("allocations", queryset=allocations))
        )

    @admin.display(description=_("reference"))
    def reference_link(self, payment):
        return admin_link(payment, payment.reference)

    @admin.display(description=_("allocated to installments"))
    def allocations(self, payment):
        return ", ".join(f"#{a.installment.number}: {a.amount}" for a in payment.allocations.all())


class PlanLedgerInline(PartInline):
    model = ShareLedgerEntry
    fk_name = "plan"
    ordering = ["id"]
    fields = ["kind", "shares", "credited_on_iso", "payment", "promotion"]
    readonly_fields = fields
    credited_on_iso = iso_date("credited_on", field_label(ShareLedgerEntry, "credited_on"))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment", "promotion")


class PlanEventInline(PartInline):
    model = PlanEvent
    ordering = ["at", "id"]
    fields = ["at_iso", "kind", "actor", "reason", "data"]
    readonly_fields = fields
    at_iso = iso_datetime("at", field_label(PlanEvent, "at"))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Plan)
class PlanAdmin(ServiceViewsMixin, admin.ModelAdmin):
    list_display = [
        "number",
        "investor_link",
        "package",
        "status",
        "overdue_amount",
        "grace_deadline",
        "days_left",
        "hold_until_iso",
    ]
    list_display_links = ["number"]
    list_select_related = ["investor", "package"]
    list_filter = ["status", OverdueFilter, OnHoldFilter, "stage", "package"]
    search_fields = ["investor__name", "investor__phone", "investor__email", "payments__reference"]
    actions = ["hold_selected", "release_hold_selected", "restore_selected"]
    fieldsets = [
        (None, {"fields": ["investor_link", "investor_contacts", "package", "stage", "status"]}),
        (
            _("Overdue today"),
            {
                "fields": [
                    "overdue_amount",
                    "oldest_overdue_due_date",
                    "grace_deadline",
                    "days_left",
                    "shares_credited",
                ]
            },
        ),
        (
            _("Terms locked at purchase"),
            {
                "fields": [
                    "share_price",
                    "shares",
                    "price",
                    "final_payment_fraction",
                    "purchased_on_iso",
                    "first_due_date_iso",
                ]
            },
        ),
        (
            _("Progress, hold and restore"),
            {
                "fields": [
                    "oldest_unpaid_due_date_iso",
                    "completed_on_iso",
                    "cancelled_on_iso",
                    "hold_until_iso",
                    "hold_reason",
                    "grace_extended_to_iso",
                ]
            },
        ),
    ]
    # The plan's own fields are never edited here: state changes go through the services.
    readonly_fields = [name for _title, options in fieldsets for name in options["fields"]]
    inlines = [InstallmentInline, PlanPaymentInline, PlanLedgerInline, PlanEventInline]

    purchased_on_iso = iso_date("purchased_on", field_label(Plan, "purchased_on"))
    first_due_date_iso = iso_date("first_due_date", field_label(Plan, "first_due_date"))
    oldest_unpaid_due_date_iso = iso_date(
        "oldest_unpaid_due_date", field_label(Plan, "oldest_unpaid_due_date")
    )
    completed_on_iso = iso_date("completed_on", field_label(Plan, "completed_on"))
    cancelled_on_iso = iso_date("cancelled_on", field_label(Plan, "cancelled_on"))
    hold_until_iso = iso_date("hold_until", field_label(Plan, "hold_until"))
    grace_extended_to_iso = iso_date("grace_extended_to", field_label(Plan, "grace_extended_to"))
    # Annotations of Plan.objects.with_overdue(today), made in get_queryset.
    grace_deadline = iso_date(
        "grace_deadline", _("grace deadline"), ordering=F("grace_deadline").asc(nulls_last=True)
    )
    oldest_overdue_due_date = iso_date("oldest_overdue_due_date", _("oldest overdue due date"))

    def get_queryset(self, request):
        return super().get_queryset(request).listed(request_today(request))

    # -- columns

    @admin.display(description=_("plan"), ordering="id")
    def number(self, plan):
        return f"#{plan.pk}"

    @admin.display(description=_("investor"), ordering="investor__name")
    def investor_link(self, plan):
        return admin_link(plan.investor)

    @admin.display(description=_("contacts"))
    def investor_contacts(self, plan):
        investor = plan.investor
        return " · ".join(c for c in (investor.phone, investor.email, investor.messenger) if c)

    @admin.display(description=_("overdue amount"), ordering="overdue_amount")
    def overdue_amount(self, plan):
        return f"{plan.overdue_amount:.2f}"

    # Most urgent first; plans with nothing overdue have no deadline and sort last.
    @admin.display(description=_("days left"), ordering=F("days_left").asc(nulls_last=True))
    def days_left(self, plan):
        return shown(self, plan.days_left)

    @admin.display(description=_("shares credited"))
    def shares_credited(self, plan):
        return _("%(credited)s of %(shares)s") % {
            "credited": plan.shares_credited,
            "shares": plan.shares,
        }

    # -- add, change, delete

    def has_delete_permission(self, request, obj=None):
        return False  # money was recorded against it; a plan is cancelled, never deleted

    def add_view(self, request, form_url="", extra_context=None):
        return self.service_add_view(
            request,
            form_class=PlanCreateForm,
            title=_("Add plan"),
            submit_label=_("Create the plan and its installments"),
            initial={
                "investor": request.GET.get("investor"),
                "package": request.GET.get("package"),
            },
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing on this page is edited, and saving would write back the whole row: a status
        # or balance that a payment or the scan changed since the page was loaded.
        if request.method == "POST":
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(
            show_save=False, show_save_and_continue=False, show_save_and_add_another=False
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- the services, one page each

    def get_urls(self):
        views = [
            ("record-payment", "record_payment", self.record_payment_view),
            ("restore", "restore", self.restore_view),
            ("hold", "hold", self.hold_view),
            ("release-hold", "release_hold", self.release_hold_view),
            ("add-shares", "add_shares", self.add_shares_view),
        ]
        return self.service_urls(views) + super().get_urls()

    def service_tools(self, request, plan):
        if not self.has_change_permission(request, plan):
            return []
        return [
            {"label": action.label, "url": self.admin_url(action.value, plan.pk)}
            for action in plan.actions(request_today(request))
        ]

    def plan_form_view(
        self,
        request,
        object_id,
        *,
        form_class: type[PlanServiceForm],
        title,
        submit_label,
        description="",
        initial=None,
    ):
        """`description` is a text, or a function of the plan (called once the plan is found
        and the user may change it)."""
        plan = self.object_for_change(request, object_id)
        return self.service_tool_view(
            request,
            plan,
            form_class=form_class,
            form_kwargs={"plan": plan},
            title=title % {"plan": plan.pk},
            submit_label=submit_label,
            description=description(plan) if callable(description) else description,
            initial=initial,
        )

    def record_payment_view(self, request, object_id):
        today = request_today(request)
        return self.plan_form_view(
            request,
            object_id,
            form_class=PaymentRecordForm,
            title=_("Record a payment to plan #%(plan)s"),
            submit_label=_("Post the payment"),
            description=lambda plan: format_lazy(
                "{} {}",
                _(
                    "The money goes to the oldest unpaid installment first. Posting a "
                    "reference that is already recorded posts nothing."
                ),
                PaymentRecordForm.what_is_owed(plan, today),
            ),
            initial={"received_on": today},
        )

    def restore_view(self, request, object_id):
        return self.plan_form_view(
            request,
            object_id,
            form_class=PlanRestoreForm,
            title=_("Restore plan #%(plan)s"),
            submit_label=_("Restore the plan"),
            description=_(
                "The plan becomes active again as it stands: its unpaid installments stay "
                "unpaid (those already due are overdue at once), and the investor has "
                "%(days)s days from today to pay them before the nightly scan may cancel it "
                "again."
            )
            % {"days": rules.GRACE_DAYS},
        )

    def hold_view(self, request, object_id):
        return self.plan_form_view(
            request,
            object_id,
            form_class=PlanHoldForm,
            title=_("Put plan #%(plan)s on hold"),
            submit_label=_("Put on hold"),
        )

    def release_hold_view(self, request, object_id):
        return self.plan_form_view(
            request,
            object_id,
            form_class=PlanReleaseHoldForm,
            title=_("Release the hold on plan #%(plan)s"),
            submit_label=_("Release the hold"),
        )

    def add_shares_view(self, request, object_id):
        return self.plan_form_view(
            request,
            object_id,
            form_class=PlanAddSharesForm,
            title=_("Add shares to plan #%(plan)s"),
            submit_label=_("Add the shares"),
        )

    # -- changelist actions: an intermediate page asks for the input, then each plan

    def apply_to_selected(
        self,
        request,
        queryset,
        *,
        form_class: type[PlanServiceForm],
        action: str,
        title,
        submit_label,
        done_message: Callable[[int], str],
    ):
        if "apply" in request.POST:
            form = form_class(request.POST, admin_site=self.admin_site)
            if form.is_valid():
                outcome = self._perform_on_each(request, queryset, form)
                if outcome is not None:
                    done, refused = outcome
                    if done:
                        numbers = ", ".join(f"#{plan.pk}" for plan in done)
                        self.message_user(
                            request,
                            f"{done_message(len(done))}: {numbers}.",
                            messages.SUCCESS,
                        )
                    for message in refused:
                        self.message_user(request, message, messages.WARNING)
                    return None  # back to the changelist
        else:
            form = form_class(admin_site=self.admin_site)
        return self.render_service_form(
            request,
            form,
            title=title,
            submit_label=submit_label,
            cancel_url=request.get_full_path(),
            action=action,
            objects=queryset,
        )

    def _perform_on_each(self, request, queryset, form: PlanServiceForm):
        today = request_today(request)
        done, refused = [], []
        try:
            with transaction.atomic():
                for plan in queryset:
                    try:
                        changed = form.perform_on(plan, today=today, actor=request.user)
                    except DomainError as error:
                        if error.field in form.fields:
                            # The input itself is refused (no reason, a date in the past):
                            # it is refused for every plan, so none is changed.
                            form.add_domain_error(error)
                            raise _InputRefused from error
                        refused.append(error.message)
                    else:
                        done.append(changed)
        except _InputRefused:
            return None
        for plan in done:
            self.log_change(request, plan, str(form.success_message(plan)))
        return done, refused

    @admin.action(description=_("Put selected plans on hold…"), permissions=["change"])
    def hold_selected(self, request, queryset):
        return self.apply_to_selected(
            request,
            queryset,
            form_class=PlanHoldForm,
            action="hold_selected",
            title=_("Put plans on hold"),
            submit_label=_("Put these plans on hold"),
            done_message=lambda n: (
                ngettext("%(count)d plan put on hold", "%(count)d plans put on hold", n)
                % {"count": n}
            ),
        )

    @admin.action(description=_("Release the hold on selected plans…"), permissions=["change"])
    def release_hold_selected(self, request, queryset):
        return self.apply_to_selected(
            request,
            queryset,
            form_class=PlanReleaseHoldForm,
            action="release_hold_selected",
            title=_("Release the hold on plans"),
            submit_label=_("Release the hold on these plans"),
            done_message=lambda n: (
                ngettext("Hold released on %(count)d plan", "Hold released on %(count)d plans", n)
                % {"count": n}
            ),
        )

    @admin.action(description=_("Restore selected cancelled plans…"), permissions=["change"])
    def restore_selected(self, request, queryset):
        return self.apply_to_selected(
            request,
            queryset,
            form_class=PlanRestoreForm,
            action="restore_selected",
            title=_("Restore cancelled plans"),
            submit_label=_("Restore these plans"),
            done_message=lambda n: (
                ngettext("%(count)d plan restored", "%(count)d plans restored", n) % {"count": n}
            ),
        )
