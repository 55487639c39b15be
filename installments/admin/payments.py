"""Payments: recorded through payment_record, shown with their allocations and credits."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from backoffice.lib.admin import (
    PartInline,
    ServiceViewsMixin,
    admin_link,
    field_label,
    iso_date,
    iso_datetime,
    request_today,
)

from ..forms import (
    PaymentCreateForm,
)
from ..models import (
    Allocation,
    Payment,
    ShareLedgerEntry,
)

# ---------------------------------------------------------------------------- payments


class AllocationInline(PartInline):
    model = Allocation
    fields = ["installment_number", "installment_due_date", "amount"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("installment")

    @admin.display(description=_("installment"))
    def installment_number(self, allocation):
        return f"#{allocation.installment.number}"

    @admin.display(description=_("due date"))
    def installment_due_date(self, allocation):
        return allocation.installment.due_date.isoformat()


class PaymentCreditInline(PartInline):
    model = ShareLedgerEntry
    fk_name = "payment"
    verbose_name_plural = _("shares credited by this payment")
    ordering = ["id"]
    fields = ["kind", "shares", "promotion"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("promotion")


@admin.register(Payment)
class PaymentAdmin(ServiceViewsMixin, admin.ModelAdmin):
    """Money records: added through `payment_record`, never edited or deleted."""

    list_display = [
        "reference",
        "plan_link",
        "investor",
        "amount",
        "received_on_iso",
        "recorded_by",
        "recorded_at_iso",
    ]
    list_select_related = ["plan__investor", "plan__package", "recorded_by"]
    search_fields = ["reference", "plan__investor__name"]
    date_hierarchy = "received_on"
    fields = [
        "reference",
        "plan_link",
        "investor",
        "amount",
        "received_on_iso",
        "recorded_by",
        "recorded_at_iso",
    ]
    readonly_fields = fields
    inlines = [AllocationInline, PaymentCreditInline]
    received_on_iso = iso_date("received_on", field_label(Payment, "received_on"))
    recorded_at_iso = iso_datetime("recorded_at", _("recorded at"))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("plan__investor", "plan__package")

    @admin.display(description=_("plan"), ordering="plan")
    def plan_link(self, payment):
        return admin_link(payment.plan)

    @admin.display(description=_("investor"), ordering="plan__investor__name")
    def investor(self, payment):
        return payment.plan.investor

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied

        def on_success(result, message):
            if result.created:
                self.log_addition(request, result.payment, message)

        return self.service_form_view(
            request,
            form_class=PaymentCreateForm,
            title=_("Record a payment"),
            submit_label=_("Post the payment"),
            description=_(
                "The money goes to the oldest unpaid installment first. Posting a reference "
                "that is already recorded posts nothing."
            ),
            initial={"plan": request.GET.get("plan"), "received_on": request_today(request)},
            success_url=lambda result: self.admin_url("change", result.payment.pk),
            cancel_url=self.admin_url("changelist"),
            on_success=on_success,
        )
