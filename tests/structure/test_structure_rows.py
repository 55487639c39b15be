"""The Structure's row SQL compiled once (structure.rows): binding a day gives exactly the
statement and parameters the ORM compiles for that day."""

import datetime as dt

import pytest

from structure.rows import build_template
from structure.selectors import structure_row_template

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "today",
    [dt.date(2026, 1, 1), dt.date(2026, 2, 28), dt.date(2028, 2, 29), dt.date(1999, 12, 31)],
)
def test_a_bound_template_is_the_orm_query_of_that_day(today):
    template = build_template(structure_row_template)
    compiled = structure_row_template(today).order_by().query.get_compiler("default").as_sql()
    assert (template.sql, template.bind(today)) == (compiled[0], list(compiled[1]))
    assert template.day_slots  # the day is a parameter, not part of the SQL text
