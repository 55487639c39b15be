"""Filters for the reminder outbox (django-filter), for the API and any HTML list."""

import django_filters

from installments.filters import IdFilter

from .models import Channel, Reminder, ReminderStatus


class ReminderFilter(django_filters.FilterSet):
    plan = IdFilter(field_name="plan_id")
    # The investor the reminder goes to (for a digest: the participant).
    investor = IdFilter(field_name="recipient_id")
    kind = django_filters.CharFilter(field_name="kind")
    status = django_filters.ChoiceFilter(choices=ReminderStatus.choices)
    channel = django_filters.ChoiceFilter(choices=Channel.choices)

    class Meta:
        model = Reminder
        fields = ["plan", "investor", "kind", "status", "channel"]
