"""English formats: Django's own, with one way of writing a day on every page ("Oct. 4, 2026"),
a row's short dates and the contact log's times included."""

from django.conf.locale.en.formats import *  # noqa: F403
from django.conf.locale.en.formats import DATE_FORMAT, DATETIME_FORMAT

SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
