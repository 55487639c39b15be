"""The contact-log form of the investor page: an interface over `contact_log_record`."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ContactOutcome


class ContactLogForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("What happened"), choices=ContactOutcome.choices, widget=forms.RadioSelect
    )
    promised_on = forms.DateField(
        label=_("Promised payment date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
    )
    promised_amount = forms.DecimalField(
        label=_("Promised amount"),
        required=False,
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        localize=False,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"}),
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
