"""Purchase stages, packages and promotions: plain model admins."""

from __future__ import annotations

from django.contrib import admin

from backoffice.lib.admin import (
    field_label,
    iso_date,
)

from ..forms import (
    PackageForm,
)
from ..models import (
    Package,
    Promotion,
    PurchaseStage,
)

# ---------------------------------------------------------------------------- stages, packages


@admin.register(PurchaseStage)
class PurchaseStageAdmin(admin.ModelAdmin):
    list_display = ["name", "share_price", "starts_on_iso"]
    search_fields = ["name"]
    starts_on_iso = iso_date("starts_on", field_label(PurchaseStage, "starts_on"))


@admin.register(Package)
class PackageAdmin(admin.ModelAdmin):
    form = PackageForm
    fields = [
        "name",
        "shares",
        "price",
        "installment_count",
        "final_payment_fraction",
        "is_active",
    ]
    list_display = [
        "name",
        "shares",
        "price",
        "installment_count",
        "final_payment_fraction",
        "is_active",
    ]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "percentage", "starts_on_iso", "ends_on_iso"]
    list_filter = ["kind"]
    search_fields = ["name"]
    starts_on_iso = iso_date("starts_on", field_label(Promotion, "starts_on"))
    ends_on_iso = iso_date("ends_on", field_label(Promotion, "ends_on"))
