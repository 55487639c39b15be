"""The investors' overdue read model, and the one door every plan write goes through.

`Investor.oldest_unpaid_due_date` and `Investor.earliest_grace_deadline` summarise an
investor's ACTIVE plans: the oldest unpaid due date and the earliest grace deadline;
`Investor.plans_price` and `Investor.cancelled_price` the price of all their plans and of
the cancelled ones. The columns sit on the investor's row, beside its tree path, so the
Structure and the dashboard count, filter, order and sum a 100,000-client structure from one
index; this module is their only writer.

Like `Plan.oldest_unpaid_due_date` they are functions of plans bought, payments, holds,
restores and cancellations, never of the clock, so they cannot go stale: every service that writes a
plan does it inside `plans_changing()`, which refreshes the investors of the plans it
touched in the same transaction. A test fails when a plan or installment row is written
outside it (`tests/installments/test_plan_writes.py`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection, models, transaction
from django.db.models.functions import Coalesce

from backoffice.lib.compiled import CHECK_DAY, REFERENCE_DAY, Parameters, learn, sentinel_ids
from backoffice.lib.dates import business_today
from clients.models import Investor, InvestorQuerySet

from . import overdue, rules
from .models import Installment, Plan, PlanStatus

_CHANGES: contextvars.ContextVar[PlanChanges | None] = contextvars.ContextVar(
    "plan_changes", default=None
)


class PlanChanges:
    """The plans changed in one transaction, whose investors' read model is refreshed at the
    end of it."""

    def __init__(self) -> None:
        self.investor_ids: set[int] = set()
        self.investor_queries: list[models.QuerySet] = []

    def lock(self, plan: Plan | int) -> Plan:
        """The plan, re-read under its row lock: the lock serialises every writer of one plan
        (payments, restore, hold, the scan)."""
        pk = plan if isinstance(plan, int) else plan.pk
        locked = Plan.objects.select_for_update().get(pk=pk)
        self.investor_ids.add(locked.investor_id)
        return locked

    def add(self, *, investor_ids: Iterable[int] = (), plans: models.QuerySet | None = None):
        """Investors whose plans this transaction changes, by id or as the investors of a
        queryset of plans (read as a subquery when the transaction ends)."""
        self.investor_ids.update(int(pk) for pk in investor_ids)
        if plans is not None:
            self.investor_queries.append(plans.values("investor_id"))

    def refresh(self) -> None:
        if self.investor_ids:
            investor_overdue_refresh(investor_ids=self.investor_ids)
        for query in self.investor_queries:
            investor_overdue_refresh(investor_ids=query)


@contextmanager
def plans_changing() -> Iterator[PlanChanges]:
    """One transaction that changes plans: lock them with `changes.lock(plan)` (or name their
    investors with `changes.add`), write, and the investors' read model is refreshed before
    the transaction commits. A refusal raised inside rolls everything back."""
    with transaction.atomic():
        changes = PlanChanges()
        token = _CHANGES.set(changes)
        try:
            yield changes
        finally:
            _CHANGES.reset(token)
        changes.refresh()


def in_plan_change() -> bool:
    """Whether the caller runs inside `plans_changing()` (the guard of the tests)."""
    return _CHANGES.get() is not None


# The investors' plans, as the read model's aggregates reach them. For a list of investors
# the join's ON clause names them too, so PostgreSQL reads their plans by the investor
# index; with the list in the WHERE clause alone, it hashes a scan of every plan instead
# once there are more than a few dozen (40 of 20,000 plans: 3 ms against 0.3 ms).
PLANS = "own_plans__"
# Investors rewritten per UPDATE: the read model's names its ids four times (the WHERE and
# the ON clause of both aggregates), the kept amounts' twice, which keeps either well inside
# SQLite's 32,766 parameters.
REFRESH_BATCH = 5_000


def _investors(investor_ids: list[int] | None) -> InvestorQuerySet:
    investors = Investor.objects.all()
    plans = models.Q()
    if investor_ids is not None:
        investors = investors.filter(pk__in=investor_ids)
        plans = models.Q(plans__investor_id__in=investor_ids)
    return (
        investors.order_by()
        .annotate(own_plans=models.FilteredRelation("plans", condition=plans))
        .annotate(ref=models.F("pk"))
        .values("ref")
    )


def _investor_plans_aggregate(investor_ids: list[int] | None) -> tuple[str, list]:
    """SELECT id, oldest unpaid due date, earliest grace deadline over the ACTIVE plans of
    `investor_ids` (every investor for None; NULLs for one without an active plan), and the
    price of all their plans and of the cancelled ones (0.00 for none): one grouped LEFT
    JOIN of the plans."""
    active = models.Q(**{f"{PLANS}status": PlanStatus.ACTIVE})
    aggregate = (
        _investors(investor_ids)
        .annotate(
            oldest=models.Min(f"{PLANS}oldest_unpaid_due_date", filter=active),
            grace=models.Min(
                overdue.grace_deadline(prefix=PLANS),
                filter=active,
                output_field=models.DateField(),
            ),
            price=Coalesce(models.Sum(f"{PLANS}price"), models.Value(rules.ZERO)),
            cancelled=Coalesce(
                models.Sum(
                    f"{PLANS}price",
                    filter=models.Q(**{f"{PLANS}status": PlanStatus.CANCELLED}),
                ),
                models.Value(rules.ZERO),
            ),
        )
        .values_list("ref", "oldest", "grace", "price", "cancelled")
    )
    return aggregate.query.sql_with_params()


def _investor_amount_aggregate(
    investor_ids: list[int] | None, day: dt.date | None = None
) -> tuple[str, list]:
    """SELECT id, the overdue amount and the days it holds for, over the unpaid installments
    of the ACTIVE plans of `investor_ids` (0.00 and open days for none): one grouped LEFT JOIN
    of the installments. The days are taken around `day` (the business day by default); any
    day gives a true span (`rules.overdue_amount_span`)."""
    span = overdue.overdue_amount_span(day or business_today(), plan=PLANS)
    aggregate = _investors(investor_ids).annotate(**span).values_list("ref", *span)
    return aggregate.query.sql_with_params()


def investor_overdue_refresh(*, investor_ids: Iterable[int] | models.QuerySet) -> int:
    """Rewrite the investors' read model (`Investor.oldest_unpaid_due_date`,
    `Investor.earliest_grace_deadline`, `Investor.plans_price`, `Investor.cancelled_price`) of
    `investor_ids` (ids, or a queryset of ids read as a subquery) from their plans, in the
    caller's transaction. Returns the number of
    investors written.

    `plans_changing` calls it for every write to a plan; nothing else needs to. The
    investors' rows are locked first, in id
    order: two payments to two plans of one investor then recompute one after the other, the
    second reading what the first committed (READ COMMITTED gives each statement a fresh
    snapshot, but an UPDATE blocked on a row lock would keep its old aggregate). FOR NO KEY
    UPDATE leaves plan and contact-log inserts (which take KEY SHARE on the investor) free.
    Only rows whose values change are written: a part payment leaves the investor untouched,
    but for the stamp of the dashboard's kept figures, which every write empties.
    """
    if not isinstance(investor_ids, models.QuerySet):
        investor_ids = sorted({int(pk) for pk in investor_ids})
        if not investor_ids:
            return 0
    # No savepoint: inside the caller's transaction this is two statements, the lock and
    # the UPDATE; alone, it is its own transaction.
    with transaction.atomic(savepoint=False):
        locked = (
            Investor.objects.filter(pk__in=investor_ids)
            .order_by("pk")
            .select_for_update(no_key=True)
            .values_list("pk", flat=True)
        )
        ids = list(locked)
        return sum(
            _overdue_update(ids[start : start + REFRESH_BATCH])
            for start in range(0, len(ids), REFRESH_BATCH)
        )


def kept_amounts_renew(*, today: dt.date, chunk: int = 50_000) -> int:
    """Rewrite the kept overdue amount of every investor whose kept amount does not hold on
    `today` (an installment fell due since it was kept, and no write has touched the investor
    since), with the days it holds for around `today`, so the Structure and the dashboard read
    it from the column again instead of summing the installments. `chunk` investors (by id) at
    a time, each chunk in its own transaction, locking its rows and skipping those another
    transaction holds (a plan write rewrites them; others wait for the next run); the number
    written. Idempotent: run again on the same
    day, it finds nothing to do. Run with the dashboard's refresh (`dashboard.tasks`)."""
    stale = Investor.objects.exclude(overdue.kept_amount_holds(today)).order_by("pk")
    ids = list(stale.values_list("pk", flat=True))
    written = 0
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        with transaction.atomic():
            locked = stale.filter(pk__gte=part[0], pk__lte=part[-1]).select_for_update(
                no_key=True, skip_locked=True
            )
            held = list(locked.values_list("pk", flat=True))
            for first in range(0, len(held), REFRESH_BATCH):
                batch = held[first : first + REFRESH_BATCH]
                written += len(_update(*_investor_amount_aggregate(batch, today), AMOUNT_COLUMNS))
    return written


# The read model's columns, by the aggregate that computes them and its column's alias.
PLAN_COLUMNS = {
    "oldest_unpaid_due_date": "oldest",
    "earliest_grace_deadline": "grace",
    "plans_price": "price",
    "cancelled_price": "cancelled",
}
AMOUNT_COLUMNS = {
    "kept_overdue_amount": "amount",
    "kept_overdue_from": "held_from",
    "kept_overdue_until": "held_until",
}


def _overdue_update(ids: list[int] | None) -> int:
    """Rewrite the read model of `ids` (every investor for None) in one UPDATE: the plans'
    aggregate and the installments' are two subqueries joined on the investor (one grouped
    join of both would sum the plan prices once per installment), so an investor's row is
    written once, with every index entry it has, not once per aggregate; the number of
    investors written.

    It also empties the stamp of the dashboard's figures kept on the investors
    (`dashboard.kept`): any plan write may change them, and a row without its day's stamp
    is computed afresh wherever it is read."""
    if ids is None:
        sql, params = _overdue_statement(None, business_today())
    else:
        sql, params = _compiled_overdue_statement(ids, business_today())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return len(cursor.fetchall())


def _overdue_statement(ids: list[int] | None, day: dt.date) -> tuple[str, list]:
    """`_overdue_update`'s statement as the ORM compiles it, the kept amount taken around
    `day`."""
    plans, plan_params = _investor_plans_aggregate(ids)
    amounts, amount_params = _investor_amount_aggregate(ids, day)
    values = [
        "p.ref",
        *(f"p.{alias}" for alias in PLAN_COLUMNS.values()),
        *(f"a.{alias}" for alias in AMOUNT_COLUMNS.values()),
    ]
    select = (
        f"SELECT {', '.join(values)} FROM ({plans}) AS p JOIN ({amounts}) AS a ON a.ref = p.ref"
    )
    sql = _update_sql(select, {**PLAN_COLUMNS, **AMOUNT_COLUMNS}, forget_kept=True)
    return sql, [*plan_params, *amount_params]


# `_overdue_statement` compiled once per database and number of investors, for the small
# numbers the day's writes refresh (a payment's one investor, an admin act's few): building
# and compiling its two annotated querysets costs the ORM more than PostgreSQL takes to run
# it for one investor. Its ids and day are bound per call (`backoffice.lib.compiled`). A
# refresh of more investors (the night's cancellations) compiles its own: its rows cost more.
COMPILED_UP_TO = 64
_COMPILED: dict[tuple, tuple[str, Parameters] | None] = {}
_NOT_YET = object()


def _compiled_overdue_statement(ids: list[int], day: dt.date) -> tuple[str, list]:
    if len(ids) > COMPILED_UP_TO:
        return _overdue_statement(ids, day)
    key = (connection.alias, connection.vendor, len(ids))
    template = _COMPILED.get(key, _NOT_YET)
    if template is _NOT_YET:
        # Two threads may both compile it; either result is the same.
        template = _COMPILED[key] = _overdue_template(len(ids))
    if template is None:  # its SQL depends on more than the ids and the day
        return _overdue_statement(ids, day)
    sql, parameters = template
    return sql, parameters.bind(day, ids)


def _overdue_template(count: int) -> tuple[str, Parameters] | None:
    """The SQL for `count` investors and where its parameters come from; None when it
    depends on more than the ids and the day."""
    ids = sentinel_ids(count)
    sql, params = _overdue_statement(ids[0], REFERENCE_DAY)
    check_sql, check_params = _overdue_statement(ids[1], CHECK_DAY)
    if sql != check_sql:
        return None
    try:
        return sql, learn(params, check_params, ids=ids)
    except ValueError:
        return None


def _update_sql(select: str, columns: dict[str, str], *, forget_kept=False) -> str:
    """UPDATE the investors from `select` (its rows named by `ref`, its values by the
    aliases of `columns`) where a value differs (or, with `forget_kept`, where the kept
    figures' stamp is set, emptying it), RETURNING the ids written."""
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    assignments = [f"{column} = agg.{value}" for column, value in columns.items()]
    conditions = [f"i.{column} {differs} agg.{value}" for column, value in columns.items()]
    if forget_kept:
        assignments.append("kept_figures_stamp = NULL")
        conditions.append("i.kept_figures_stamp IS NOT NULL")
    return (
        "UPDATE clients_investor AS i SET "
        + ", ".join(assignments)
        + f" FROM ({select}) AS agg WHERE i.id = agg.ref AND ("
        + " OR ".join(conditions)
        + ") RETURNING id"
    )


def _update(select: str, params, columns: dict[str, str]) -> set[int]:
    """Run `_update_sql`; the ids written."""
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(select, columns), params)
        return {row[0] for row in cursor.fetchall()}


def investor_overdue_refresh_all() -> int:
    """The read model of every investor in one statement (the data migration, the benchmark
    generator: nothing else writes at that time, so no row is locked first)."""
    return _overdue_update(None)


# ---------------------------------------------------------------------------- reads


def investors_with_overdue(queryset: InvestorQuerySet, *, today: dt.date) -> InvestorQuerySet:
    """Annotate investors, from the read model, with their overdue state on `today`:
    `overdue`, `oldest_overdue_due_date`, `grace_deadline` (the most urgent overdue plan's),
    `days_left` and `has_active_plan`. No join, and no per-row subquery but a rare fallback,
    so counting, filtering and ordering on these reads the investor's index only.

    The stored earliest grace deadline G is over every active plan. A plan not yet overdue
    has its deadline at `overdue.latest_natural_deadline(today)` or later, so G before that
    is the deadline of an overdue plan and the earliest of them; otherwise every overdue plan
    is held or extended past it (rare), and the row reads its plans.
    """
    is_overdue = overdue.is_overdue(today)
    natural = models.Q(earliest_grace_deadline__lt=overdue.latest_natural_deadline(today))
    return queryset.annotate(
        overdue=overdue.flag(is_overdue),
        oldest_overdue_due_date=models.Case(
            models.When(is_overdue, then=models.F("oldest_unpaid_due_date")),
            default=None,
            output_field=models.DateField(),
        ),
        grace_deadline=models.Case(
            models.When(is_overdue & natural, then=models.F("earliest_grace_deadline")),
            models.When(is_overdue, then=_overdue_plans_grace(today)),
            default=None,
            output_field=models.DateField(),
        ),
        has_active_plan=models.ExpressionWrapper(
            models.Q(oldest_unpaid_due_date__isnull=False), output_field=models.BooleanField()
        ),
    ).annotate(days_left=overdue.days_left("grace_deadline", today))


def _overdue_plans_grace(today: dt.date) -> models.Subquery:
    """The earliest grace deadline among the investor's plans overdue on `today`."""
    plans = (
        Plan.objects.filter(investor=models.OuterRef("pk"))
        .with_overdue(today)
        .filter(overdue=True)
        .order_by("grace_deadline")
        .values("grace_deadline")[:1]
    )
    return models.Subquery(plans, output_field=models.DateField())


def with_overdue_amount(queryset: InvestorQuerySet, *, today: dt.date) -> InvestorQuerySet:
    """`overdue_amount` of investors annotated by `investors_with_overdue`: the amount the
    read model keeps while it holds (`overdue.kept_amount_holds`), else a subquery per row."""
    amount = overdue.overdue_amount(
        Installment.objects.filter(plan__investor=models.OuterRef("pk")),
        today,
        group="plan__investor",
    )
    return queryset.annotate(
        overdue_amount=models.Case(
            # The kept amount while it holds; summed from the installments after.
            models.When(
                models.Q(overdue=True) & overdue.kept_amount_holds(today),
                then=models.F("kept_overdue_amount"),
            ),
            models.When(overdue=True, then=amount),
            default=models.Value(rules.ZERO),
            output_field=overdue.MONEY_FIELD,
        )
    )
