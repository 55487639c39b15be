from django import forms
from django.utils.translation import gettext_lazy as _

from clients.models import Language
from reminders.models import Channel
from structure.help import CONTACT_VIA_MAX_LENGTH, MESSAGE_MAX_LENGTH


class HelpRequestForm(forms.Form):
    message = forms.CharField(
        label=_("A short message (optional)"),
        required=False,
        max_length=MESSAGE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    contact_via = forms.CharField(
        label=_("How and when to reach you (optional)"),
        required=False,
        max_length=CONTACT_VIA_MAX_LENGTH,
    )


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_("Language of your reminders"), choices=Language.choices)
    opted_out_channels = forms.MultipleChoiceField(
        label=_("Do not send me reminders by"),
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    time_zone = forms.CharField(
        label=_("Your time zone (for quiet hours)"),
        required=False,
        max_length=64,
        help_text=_("For example Asia/Kathmandu. Empty: the business time zone."),
    )


class InvitationAcceptForm(forms.Form):
    username = forms.CharField(label=_("Choose a username"), max_length=150)
    password = forms.CharField(
        label=_("Choose a password"), strip=False, widget=forms.PasswordInput(render_value=False)
    )
