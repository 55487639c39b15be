"""The user admin: a password change rotates the user's API token, and staff revoke tokens
(clients.tokens)."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .tokens import TokenRotatingAdminPasswordChangeForm, api_tokens_revoke

User = get_user_model()


class TokenRotatingUserAdmin(UserAdmin):
    change_password_form = TokenRotatingAdminPasswordChangeForm
    actions = ["revoke_api_tokens"]

    @admin.action(description="Revoke the selected users' API tokens")
    def revoke_api_tokens(self, request, queryset):
        revoked = sum(api_tokens_revoke(user=user) for user in queryset)
        self.message_user(request, f"{revoked} API token(s) revoked.")


admin.site.unregister(User)
admin.site.register(User, TokenRotatingUserAdmin)
