"""Hindi formats: Django's own (dates "22 नवम्बर 2026"), with money in Indian grouping."""

from django.conf.locale.hi.formats import *  # noqa: F403

NUMBER_GROUPING = (3, 2, 0)  # 12,34,567.00
