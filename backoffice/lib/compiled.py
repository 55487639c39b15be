"""A statement the ORM compiled once, its day and ids bound again for each call.

Building and compiling an annotated queryset can cost more than running it on a few rows. A
statement whose SQL text depends on nothing but the day (and on how many ids it names) is
compiled twice: for two days far apart, and for two sets of ids no row has. Comparing the two
tells which parameters are the day shifted by a constant (today, the grace horizon…), which
are the ids and which are constants; anything else is refused (`ValueError`), and the caller
compiles for each call instead. Used by the Structure's rows (`structure.rows`) and the
investors' read model (`installments.read_model`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# Two days far apart: a parameter is "today + k days" when it moves by exactly their gap.
REFERENCE_DAY = dt.date(2001, 1, 1)
CHECK_DAY = dt.date(2003, 7, 9)


def sentinel_ids(count: int) -> tuple[list[int], list[int]]:
    """Two sets of `count` ids no row has (negative, all different): the ids to compile a
    statement with, the first time and the second."""
    return (
        [-(position + 1) for position in range(count)],
        [-(count + position + 1) for position in range(count)],
    )


def as_date(value) -> dt.date | None:
    """A date parameter as the database adapter was given it: a date, or its ISO text."""
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Parameters:
    """A compiled statement's parameters: the constants, and where the day and the ids go."""

    constants: tuple
    day_slots: tuple  # (index, days after the day, sent as text)
    id_slots: tuple = ()  # (index, position in the ids)

    def bind(self, today: dt.date, ids=()) -> list:
        params = list(self.constants)
        for index, offset, as_text in self.day_slots:
            day = today + dt.timedelta(days=offset)
            params[index] = day.isoformat() if as_text else day
        for index, position in self.id_slots:
            params[index] = ids[position]
        return params


def learn(params, check_params, *, ids: tuple[list[int], list[int]] = ([], [])) -> Parameters:
    """The parameters of a statement compiled for `REFERENCE_DAY` and the first of `ids`
    (`params`), told apart with the same statement compiled for `CHECK_DAY` and the second
    (`check_params`)."""
    if len(params) != len(check_params):
        raise ValueError("the statement's parameters depend on more than the day and the ids")
    gap = (CHECK_DAY - REFERENCE_DAY).days
    positions = {pair: position for position, pair in enumerate(zip(*ids, strict=True))}
    days, id_slots = [], []
    for index, (value, check) in enumerate(zip(params, check_params, strict=True)):
        if type(value) is int and (value, check) in positions:
            id_slots.append((index, positions[value, check]))
            continue
        if value == check:
            continue
        day, check_day = as_date(value), as_date(check)
        if day is None or check_day is None or (check_day - day).days != gap:
            raise ValueError(f"parameter {index} is neither a constant, an id nor a day: {value!r}")
        days.append((index, (day - REFERENCE_DAY).days, isinstance(value, str)))
    return Parameters(constants=tuple(params), day_slots=tuple(days), id_slots=tuple(id_slots))
