"""Filters for the reminder outbox (django-filter), for the API and any HTML list."""

import django_filters
from django.core.validators import validate_slug

from installments.filters import IdFilter

from .models import Channel, Reminder, ReminderStatus


class ReminderFilter(django_filters.FilterSet):
    plan = IdFilter(field_name="plan_id")
    # The investor the reminder goes to (for a digest: the participant).
    investor = IdFilter(field_name="recipient_id")
    # A cadence step's code (a slug): anything else is a 400, as for status and channel.
    kind = django_filters.CharFilter(
        field_name="kind",
        validators=[validate_slug],
        max_length=Reminder._meta.get_field("kind").max_length,
    )
    status = django_filters.ChoiceFilter(choices=ReminderStatus.choices)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)

    class Meta:
        model = Reminder
        fields = ["plan", "investor", "kind", "status", "channel"]
