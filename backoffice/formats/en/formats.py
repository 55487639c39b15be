"""English formats: one way of writing a day on every page ("Oct. 4, 2026"), a row's short
dates and the contact log's times included. Every format not named here is Django's own
(Django reads a format from this module first, then from its own locale)."""

DATE_FORMAT = "N j, Y"  # Django's English date
DATETIME_FORMAT = "N j, Y, P"  # and date-and-time
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
