"""Filters for plans and payments (django-filter), shared by the API and any HTML list."""

import django_filters

from backoffice.lib.filters import IdFilter, StrictBooleanFilter

from .models import Payment, Plan, PlanStatus


class PlanFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PlanStatus.choices)
    investor = IdFilter(field_name="investor_id")
    # Reads the `overdue` annotation of Plan.objects.with_overdue(today).
    overdue = StrictBooleanFilter(field_name="overdue")

    class Meta:
        model = Plan
        fields = ["status", "investor", "overdue"]


class PaymentFilter(django_filters.FilterSet):
    plan = IdFilter(field_name="plan_id")
    reference = django_filters.CharFilter(field_name="reference")

    class Meta:
        model = Payment
        fields = ["plan", "reference"]
