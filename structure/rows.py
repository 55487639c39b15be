"""The Structure's row query as plain SQL, compiled from the ORM once per process.

Every value a row shows (`structure_base` and `with_row_values`: the overdue state, the
amount, the latest contact, status, urgency) is an annotation tree that Django resolves and
compiles anew for each queryset, which costs far more than the query itself. Here the tree is
built and compiled once, for a reference day, into a SELECT over every investor; a request
binds its own day into the parameters and reads that SELECT as a derived table, with its own
WHERE (the page's ids, or a filtered queryset's ids as a subquery), ORDER BY and LIMIT.

The SQL is the ORM's own: the overdue rules are written once, in `installments.overdue` and
`installments.read_model`. A date parameter is the day shifted by a constant (today, the
grace horizon, the last days' threshold…); compiling for two days tells which parameters
move with the day and which are constants (`backoffice.lib.compiled`), and a template whose
SQL text depends on the day is refused.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connections, models

from backoffice.lib.compiled import CHECK_DAY, REFERENCE_DAY, Parameters, learn
from clients.models import Investor

ALIAS = "r"


@dataclass(frozen=True)
class RowTemplate:
    """`SELECT <model columns>, <annotations> FROM clients_investor` for any day."""

    sql: str
    parameters: Parameters
    field_names: tuple  # the model's attnames, first in the SELECT
    annotations: tuple  # then these aliases
    converters: dict  # column index -> (converters, expression)

    def bind(self, today: dt.date) -> list:
        return self.parameters.bind(today)


def _compile(queryset: models.QuerySet, using: str):
    compiler = queryset.order_by().query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    return compiler, sql, tuple(params)


def build_template(build, using: str = "default") -> RowTemplate:
    """Compile `build(day)` (a queryset of investors with annotations, no ordering or
    slicing) for the reference day, and learn its day parameters from a second day."""
    compiler, sql, params = _compile(build(REFERENCE_DAY), using)
    _, check_sql, check_params = _compile(build(CHECK_DAY), using)
    if sql != check_sql:
        raise ValueError("the row query's SQL depends on the day, not only its parameters")
    parameters = learn(params, check_params)
    table = compiler.connection.ops.quote_name(Investor._meta.db_table)
    if not sql.endswith(f"FROM {table}"):
        raise ValueError("the row query must read the investors alone, unfiltered")
    select = compiler.select
    model_fields = [field.attname for field in Investor._meta.concrete_fields]
    columns = [
        getattr(getattr(expression, "target", None), "attname", None) for expression, _, _ in select
    ]
    annotations = tuple(alias for _, _, alias in select[len(model_fields) :])
    if columns[: len(model_fields)] != model_fields or None in annotations:
        raise ValueError("the row query selects something other than columns and annotations")
    return RowTemplate(
        sql=sql,
        parameters=parameters,
        field_names=tuple(model_fields),
        annotations=annotations,
        converters=compiler.get_converters([expression for expression, _, _ in select]),
    )


_TEMPLATES: dict = {}
_LOCK = threading.Lock()


def row_template(build, *, key: str, using: str = "default") -> RowTemplate:
    """The template of `build`, compiled on first use in this process (per database)."""
    cache_key = (key, using)
    template = _TEMPLATES.get(cache_key)
    if template is None:
        with _LOCK:
            template = _TEMPLATES.get(cache_key) or build_template(build, using)
            _TEMPLATES[cache_key] = template
    return template


def order_sql(order, connection) -> str:
    """ORDER BY clauses over the derived table's columns, from the listing's ordering (the
    `OrderBy(F(...))` of structure.filters.ORDERINGS, and names such as "name" or "-id")."""
    quote = connection.ops.quote_name
    parts = []
    for item in order:
        if isinstance(item, str):
            descending, name, nulls = item.startswith("-"), item.lstrip("-"), ""
        else:
            descending, name = item.descending, item.expression.name
            nulls = " NULLS LAST" if item.nulls_last else " NULLS FIRST" if item.nulls_first else ""
        name = "id" if name == "pk" else name
        parts.append(f"{ALIAS}.{quote(name)} {'DESC' if descending else 'ASC'}{nulls}")
    return ", ".join(parts)


class RowReader:
    """Rows of a template for one day and one root: model instances carrying every
    annotation and `level`, read with plain SQL."""

    def __init__(self, template: RowTemplate, *, today: dt.date, root_depth: int, using: str):
        self.template = template
        self.params = template.bind(today)
        self.root_depth = root_depth
        self.using = using

    def select(
        self, ids_sql: str, ids_params, *, outer="", order=(), limit=None, offset=0, only_ids=False
    ):
        """The rows whose id is in `ids_sql` (a list of placeholders or a subquery): that
        condition sits inside the compiled SELECT, so the per-row subqueries run for those
        rows only; `outer` (over the derived table `r`), `order` and the limit apply to it.
        `only_ids`: their ids alone, so only the values the order and `outer` name are
        computed."""
        connection = connections[self.using]
        quote = connection.ops.quote_name
        id_column = f"{quote(Investor._meta.db_table)}.{quote('id')}"
        columns = (
            f"{ALIAS}.{quote('id')}" if only_ids else f"{ALIAS}.*, ({ALIAS}.{quote('depth')} - %s)"
        )
        sql = (
            f"SELECT {columns} FROM ({self.template.sql} WHERE {id_column} IN ({ids_sql})) {ALIAS}"
        )
        params = [*(() if only_ids else (self.root_depth,)), *self.params, *ids_params]
        if outer:
            sql += f" WHERE {outer}"
        if order:
            sql += " ORDER BY " + order_sql(order, connection)
        if limit is not None:
            sql += " LIMIT %s OFFSET %s"
            params += [limit, offset]
        return sql, params

    def read(self, ids_sql: str, ids_params=(), **options) -> list:
        sql, params = self.select(ids_sql, ids_params, **options)
        connection = connections[self.using]
        with connection.cursor() as cursor:
            cursor.execute(*prepared(connection, sql, params))
            return [self.instance(row) for row in cursor.fetchall()]

    def stream(self, queryset: models.QuerySet, *, chunk_size: int = 2000, **options):
        sql, params = self.select(*queryset_ids(queryset, self.using), **options)
        with connections[self.using].chunked_cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(chunk_size):
                yield from (self.instance(row) for row in rows)

    def instance(self, row) -> Investor:
        template, connection = self.template, connections[self.using]
        row = list(row)
        for index, (converters, expression) in template.converters.items():
            for converter in converters:
                row[index] = converter(row[index], expression, connection)
        width = len(template.field_names)
        investor = Investor.from_db(self.using, template.field_names, row[:width])
        for name, value in zip(template.annotations, row[width:-1], strict=True):
            setattr(investor, name, value)
        investor.level = row[-1]
        return investor

    def in_ids(self, ids, **options) -> list:
        if not ids:
            return []
        return self.read(", ".join(["%s"] * len(ids)), list(ids), **options)

    def in_queryset(self, queryset, *, key=None, **options) -> list:
        """The rows of `queryset`'s ids (a queryset, or a function building it); `key`, when
        given, names everything that determines its SQL, then compiled once (`remembered`).
        A page deep into an order (an offset of a page or more) is read in two steps: the
        ids in order, computing only what orders them, then the page's rows whole."""
        ids = remembered(
            key and ("ids", *key),
            lambda: queryset_ids(queryset() if callable(queryset) else queryset, self.using),
        )
        limit = options.get("limit")
        if limit is None or options.get("offset", 0) < limit:
            return self.read(*ids, **options)
        sql, params = self.select(*ids, only_ids=True, **options)
        connection = connections[self.using]
        with connection.cursor() as cursor:
            cursor.execute(*prepared(connection, sql, params))
            page = [row[0] for row in cursor.fetchall()]
        rows = {row.pk: row for row in self.in_ids(page)}
        return [rows[pk] for pk in page]


# ---------------------------------------------------------------------------- statements

# Statements the ORM compiled, by a key naming every input their SQL and parameters depend
# on (the database, the scope, the root, the day, the filters, the values read before): a
# request whose key was seen before only executes.
_STATEMENTS: dict = {}
MAX_STATEMENTS = 2048


def remembered(key, compile_):
    if key is None:
        return compile_()
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = compile_()
        if len(_STATEMENTS) >= MAX_STATEMENTS:
            _STATEMENTS.clear()
        _STATEMENTS[key] = statement
    return statement


def remembered_row(key, using: str, run) -> tuple | None:
    """The one row of a statement: `run()` (an ORM call running exactly one statement,
    returning its row as a tuple) the first time for `key`, then its SQL alone."""
    statement = _STATEMENTS.get(key) if key is not None else None
    if statement is None:
        captured = []

        def capture(execute, sql, params, many, context):
            captured.append((sql, params))
            return execute(sql, params, many, context)

        with connections[using].execute_wrapper(capture):
            row = run()
        if key is not None and len(captured) == 1:
            remembered(key, lambda: captured[0])
        return row
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(*prepared(connection, *statement))
        return cursor.fetchone()


def _compiled_column(queryset: models.QuerySet, using: str):
    compiler = queryset.query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    select = [expression for expression, _, _ in compiler.select]
    return sql, params, list(compiler.get_converters(select).values())


def _compiled_counts(queryset: models.QuerySet, using: str):
    sql, params, converters = _compiled_column(queryset, using)
    column = connections[using].ops.quote_name(queryset.query.values_select[0])
    counted = f"SELECT c.{column}, COUNT(*) FROM ({sql}) c GROUP BY 1 ORDER BY 1"
    return counted, params, converters


def column_counts(build, *, using: str, key=None) -> list[tuple]:
    """The distinct values of the one column of the `values_list(…, flat=True)` queryset
    `build()`, in ascending order, each with how many rows hold it: a column of many rows and
    few values (the first thousand grace deadlines of a structure) read as a few pairs."""
    sql, params, converters = remembered(
        key and ("counts", *key), lambda: _compiled_counts(build(), using)
    )
    connection = connections[using]
    with connection.cursor() as cursor:
        # Planned for its values, never prepared: the best way to the first rows of an
        # order depends on how much of the book the structure is. A generic plan, blind to
        # the path range, sorted a whole 100,000-client structure (35 ms) where the grace
        # deadline index reads the first thousand (1 ms); planning it costs 0.2 ms.
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    values = [row[0] for row in rows]
    for converter_list, expression in converters:
        for converter in converter_list:
            values = [converter(value, expression, connection) for value in values]
    return [(value, row[1]) for value, row in zip(values, rows, strict=True)]


def queryset_ids(queryset: models.QuerySet, using: str) -> tuple[str, tuple]:
    """The SQL of the ids of `queryset`, to use as a subquery."""
    ids = queryset.order_by().values("pk")
    return ids.query.get_compiler(using=using).as_sql()


# ---------------------------------------------------------------------------- prepared


# PostgreSQL types of the parameters, by Python type (bool before int: a bool is an int).
PARAMETER_TYPES = (
    (bool, "boolean"),
    (int, "bigint"),
    (float, "double precision"),
    (Decimal, "numeric"),
    (str, "text"),
    (dt.datetime, "timestamptz"),
    (dt.date, "date"),
)
MAX_PREPARED = 64


_EXACT_TYPES = dict(PARAMETER_TYPES)


def _parameter_type(value) -> str | None:
    name = _EXACT_TYPES.get(type(value))
    if name is not None:
        return name
    for kind, name in PARAMETER_TYPES:
        if isinstance(value, kind):
            return name
    return None


def prepared(connection, sql: str, params: list) -> tuple[str, list]:
    """On PostgreSQL, the statement prepared once per connection (PREPARE … AS, its
    parameters typed from their Python values) and run as EXECUTE: the rows' SELECT is long,
    and planning it anew cost more than running it. Elsewhere, or for a parameter of another
    type, the statement as it is."""
    if connection.vendor != "postgresql" or "%%" in sql:
        return sql, params
    if not settings.STRUCTURE_PREPARED_STATEMENTS:
        return sql, params
    types = [_parameter_type(value) for value in params]
    if None in types:
        return sql, params
    raw = connection.connection
    state = getattr(connection, "_structure_prepared", None)
    if state is None or state[0] is not raw:
        state = (raw, {})
        connection._structure_prepared = state
    statements = state[1]
    key = (sql, tuple(types))
    name = statements.get(key)
    if name is None:
        with connection.cursor() as cursor:
            if len(statements) >= MAX_PREPARED:
                cursor.execute("DEALLOCATE ALL")
                statements.clear()
            name = f"structure_{len(statements) + 1}"
            parts = sql.split("%s")
            numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
            cursor.execute(f"PREPARE {name} ({', '.join(types)}) AS {numbered}")
        statements[key] = name
    return f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params
