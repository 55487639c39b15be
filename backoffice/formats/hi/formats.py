"""Hindi formats: Django's own (dates "22 नवम्बर 2026"), with money in Indian grouping."""

from django.conf.locale.hi.formats import *  # noqa: F403

NUMBER_GROUPING = (3, 2, 0)  # 12,34,567.00
# Django's Hindi locale has no date-and-time format and falls back to the US one (11/30/2026):
# the contact log's times read like the rows' dates (30-11-2026).
SHORT_DATETIME_FORMAT = "d-m-Y H:i"
DATETIME_FORMAT = "j F Y, H:i"
