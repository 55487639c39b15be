"""Model fields of the installments app."""

from __future__ import annotations

from fractions import Fraction

from django.core.exceptions import ValidationError
from django.db import models

from backoffice.lib.errors import shown

from . import rules

MONEY = {"max_digits": 14, "decimal_places": 2}


def money_field(verbose_name, **kwargs) -> models.DecimalField:
    """Money: a Decimal with two places, up to `rules.MAX_AMOUNT`."""
    return models.DecimalField(verbose_name, **MONEY, **kwargs)


class FractionField(models.CharField):
    """An exact fraction stored as "numerator/denominator" and read back as `Fraction`.

    Accepts "2/3", "0.5" or a Fraction; a float never gets in (0.6667 is not 2/3).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 32)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return None if value is None else Fraction(value)

    def to_python(self, value):
        if value is None or value == "":
            return None
        if isinstance(value, Fraction):  # Fraction(0) is falsy but a valid fraction
            return value
        try:
            return rules.parse_fraction(value)
        except rules.RuleError as error:
            raise ValidationError(shown(error), code="invalid") from None

    def run_validators(self, value):
        # CharField's max-length validator measures the stored text, not the Fraction.
        super().run_validators(None if value is None else rules.format_fraction(value))

    def get_prep_value(self, value):
        value = self.to_python(value)
        return None if value is None else rules.format_fraction(value)

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return "" if value is None else rules.format_fraction(value)

    def formfield(self, **kwargs):
        from django import forms

        field = super().formfield(**kwargs)
        field.widget = forms.TextInput(attrs={"placeholder": "2/3"})
        return field
