"""Date arithmetic in SQL that reads the same on SQLite and PostgreSQL.

The overdue read model (grace deadline, days left) is computed in the query for a given
"today", so every list can filter and sort on it without a job having run.
"""

import datetime as dt

from django.db import models


class AddDays(models.Func):
    """`expression + days` for a date column; NULL stays NULL."""

    output_field = models.DateField()

    def __init__(self, expression, days: int, **extra):
        self.days = int(days)
        super().__init__(expression, **extra)

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        # date + integer is a date in PostgreSQL.
        return f"({sql} + {self.days})", params

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"date({sql}, '{self.days:+d} days')", params


class DaysBetween(models.Func):
    """Whole days from `start` to `end` (end − start), as an integer; NULL if either is."""

    output_field = models.IntegerField()

    def __init__(self, end, start, **extra):
        super().__init__(end, start, **extra)

    def as_sql(self, compiler, connection, **extra_context):
        end_sql, end_params = compiler.compile(self.source_expressions[0])
        start_sql, start_params = compiler.compile(self.source_expressions[1])
        # date - date is an integer number of days in PostgreSQL.
        return f"({end_sql} - {start_sql})", [*end_params, *start_params]

    def as_sqlite(self, compiler, connection, **extra_context):
        end_sql, end_params = compiler.compile(self.source_expressions[0])
        start_sql, start_params = compiler.compile(self.source_expressions[1])
        return (
            f"CAST(julianday({end_sql}) - julianday({start_sql}) AS INTEGER)",
            [*end_params, *start_params],
        )


def date_value(day: dt.date) -> models.Value:
    return models.Value(day, output_field=models.DateField())
