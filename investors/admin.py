from django.contrib import admin

from structure.models import HelpRequest

from .models import Invitation, PaymentInstructions


@admin.register(PaymentInstructions)
class PaymentInstructionsAdmin(admin.ModelAdmin):
    list_display = ["language", "text"]
    search_fields = ["text"]


@admin.register(HelpRequest)
class HelpRequestAdmin(admin.ModelAdmin):
    list_display = ["investor", "plan", "asked_at", "times_asked", "answered_at", "answered_by"]
    list_filter = [("answered_at", admin.EmptyFieldListFilter)]
    search_fields = ["investor__name", "message"]
    raw_id_fields = ["plan", "investor", "answered_by"]
    readonly_fields = ["asked_at", "last_asked_at", "times_asked"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["investor", "channel", "created_at", "expires_at", "used_at", "sent_by"]
    list_filter = ["channel", ("used_at", admin.EmptyFieldListFilter)]
    search_fields = ["investor__name"]
    readonly_fields = ["investor", "channel", "created_at", "expires_at", "used_at", "sent_by"]
    exclude = ["token_hash"]

    def has_add_permission(self, request):
        return False  # sent with POST /api/investors/{id}/invitation/
