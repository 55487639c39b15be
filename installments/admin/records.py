"""The share ledger and the audit trail: read-only, written only by the services."""

from __future__ import annotations

from django.contrib import admin

from backoffice.lib.admin import (
    ReadOnlyAdminMixin,
    field_label,
    iso_date,
    iso_datetime,
)

from ..models import (
    PlanEvent,
    ShareLedgerEntry,
)

# ---------------------------------------------------------------------------- ledger, audit


@admin.register(ShareLedgerEntry)
class ShareLedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["plan", "kind", "shares", "credited_on_iso", "payment", "promotion"]
    list_select_related = ["plan__investor", "plan__package", "payment", "promotion"]
    list_filter = ["kind"]
    search_fields = ["plan__investor__name", "payment__reference"]
    date_hierarchy = "credited_on"
    fields = ["plan", "kind", "shares", "credited_on_iso", "payment", "promotion"]
    readonly_fields = fields
    credited_on_iso = iso_date("credited_on", field_label(ShareLedgerEntry, "credited_on"))


@admin.register(PlanEvent)
class PlanEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail: written by the services, read here, changed by nobody."""

    list_display = ["at_iso", "plan", "kind", "actor", "reason"]
    list_select_related = ["plan__investor", "plan__package", "actor"]
    list_filter = ["kind"]
    search_fields = ["plan__investor__name", "reason"]
    date_hierarchy = "at"
    ordering = ["-at", "-id"]
    fields = ["plan", "kind", "at_iso", "actor", "reason", "data"]
    readonly_fields = fields
    at_iso = iso_datetime("at", field_label(PlanEvent, "at"))
