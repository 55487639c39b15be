from django import template
from django.conf import settings

from structure.contact import format_money

register = template.Library()


@register.filter
def money(amount) -> str:
    """An amount in the active language's grouping, with the deployment's currency."""
    if amount is None or amount == "":
        return ""
    return format_money(amount, settings.CURRENCY)


@register.filter
def absolute(value: int) -> int:
    return abs(value)


@register.filter
def outcome_label(value: str) -> str:
    from structure.models import ContactOutcome

    return ContactOutcome(value).label if value in ContactOutcome.values else value
