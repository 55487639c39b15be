"""Filter fields every list shares (django-filter): strict booleans and bounded integer ids."""

from typing import Any

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field


class StrictBooleanField(forms.Field):
    """`true`/`false` (or `1`/`0`); anything else is an error, not "no filter".

    django-filter's own boolean widgets read an unknown value as "not given", so a typo such as
    `?overdue=ture` would silently list every plan.
    """

    default_error_messages = {"invalid": "Use true or false."}

    def to_python(self, value: object) -> bool | None:
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


# Ids are BigAutoField: a larger number is no id, and reaching the database with it overflows
# the driver's integer (a 500) instead of answering the user.
MAX_ID = 2**63 - 1
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class IdField(forms.IntegerField):
    """A whole number from 1 to the largest id; anything else is the field's error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


@extend_schema_field(ID_SCHEMA)
class IdFilter(django_filters.NumberFilter):
    """An integer id. Deliberately not a ModelChoiceFilter: an id the user may not see must
    give an empty list, not a "not a valid choice" that tells them it exists."""

    field_class = IdField
