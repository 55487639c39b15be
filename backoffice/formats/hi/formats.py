"""Hindi formats: Django's own (dates "22 नवम्बर 2026"), with money in Indian grouping."""

from django.conf.locale.hi.formats import *  # noqa: F403

NUMBER_GROUPING = (3, 2, 0)  # 12,34,567.00
# One way of writing a day on every page ("4 दिसंबर 2026"): Django's Hindi locale writes
# short dates as 30-11-2026 and has no date-and-time format (it falls back to the US
# 11/30/2026), so the rows' dates and the contact log's times follow its long date.
DATETIME_FORMAT = "j F Y, H:i"
SHORT_DATE_FORMAT = DATE_FORMAT  # noqa: F405
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
