from django import template
from django.utils import timezone

from backoffice.lib.dates import business_today

from ..selectors import morning_report as read_morning_report

register = template.Library()


@register.simple_tag
def morning_report():
    """`{% morning_report as report %}`: the admin home's morning page."""
    now = timezone.now()
    return read_morning_report(today=business_today(now), now=now)
