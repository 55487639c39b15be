"""Filter fields every list shares (django-filter): strict booleans and plain integer ids."""

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field


class StrictBooleanField(forms.Field):
    """`true`/`false` (or `1`/`0`); anything else is an error, not "no filter".

    django-filter's own boolean widgets read an unknown value as "not given", so a typo such as
    `?overdue=ture` would silently list every plan.
    """

    default_error_messages = {"invalid": "Use true or false."}

    def to_python(self, value):
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

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """An integer id. Deliberately not a ModelChoiceFilter: an id the user may not see must
    give an empty list, not a "not a valid choice" that tells them it exists."""

    field_class = forms.IntegerField
