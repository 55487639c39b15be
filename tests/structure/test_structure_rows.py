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
    assert template.parameters.day_slots  # the day is a parameter, not part of the SQL text


@pytest.mark.postgres
@pytest.mark.parametrize("prepared", [True, False])
def test_the_row_query_is_prepared_on_postgresql_unless_turned_off(
    settings, root_client, structure, prepared
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.STRUCTURE_PREPARED_STATEMENTS = prepared
    with CaptureQueriesContext(connection) as queries:
        response = root_client.get("/api/structure/")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 6
    executed = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("EXECUTE ")]
    assert bool(executed) is prepared
