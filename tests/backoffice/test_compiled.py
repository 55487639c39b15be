"""A statement compiled once: its day, shifted days and ids are told apart from its constants
by a second compilation, and bound again for each call; anything else is refused."""

import datetime as dt
from decimal import Decimal

import pytest

from backoffice.lib.compiled import CHECK_DAY, REFERENCE_DAY, learn, sentinel_ids

DAY = dt.timedelta(days=1)


def compiled(day: dt.date, ids: list[int]) -> list:
    """What a compiler would send: a status, the ids, the day as a date and as text, the day
    19 days back, an amount."""
    return ["active", *ids, day, day.isoformat(), day - 19 * DAY, Decimal("0.00")]


def test_the_day_the_shifted_days_and_the_ids_are_bound_again():
    ids = sentinel_ids(3)
    parameters = learn(compiled(REFERENCE_DAY, ids[0]), compiled(CHECK_DAY, ids[1]), ids=ids)
    today = dt.date(2026, 3, 15)
    assert parameters.bind(today, [7, 8, 9]) == compiled(today, [7, 8, 9])


def test_a_parameter_that_is_neither_a_constant_an_id_nor_a_day_is_refused():
    ids = sentinel_ids(1)
    first = [*compiled(REFERENCE_DAY, ids[0]), "{-1}"]
    second = [*compiled(CHECK_DAY, ids[1]), "{-2}"]  # the ids as one array parameter
    with pytest.raises(ValueError, match="neither"):
        learn(first, second, ids=ids)
    with pytest.raises(ValueError):
        learn(compiled(REFERENCE_DAY, ids[0]), compiled(CHECK_DAY + DAY, ids[1]), ids=ids)
