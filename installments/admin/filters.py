"""The plan list's filters that read the day: overdue payments and on hold."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from backoffice.lib.admin import request_today

from ..models import Plan


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue payments")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return None
        if "overdue" not in queryset.query.annotations:
            queryset = queryset.with_overdue(request_today(request))
        return queryset.filter(overdue=self.value() == "yes")


class OnHoldFilter(admin.SimpleListFilter):
    title = _("on hold")
    parameter_name = "on_hold"

    def lookups(self, request, model_admin):
        return [("yes", _("On hold")), ("no", _("Not on hold"))]

    def queryset(self, request, queryset):
        on_hold = Plan.objects.on_hold(request_today(request)).values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=on_hold)
        if self.value() == "no":
            return queryset.exclude(pk__in=on_hold)
        return None
