"""The overdue state in SQL: the one twin of each rule in `installments.rules` that a query
needs, so lists can filter and sort on it in the database.

Each function here mirrors one pure rule, named alike, and takes "today" as an argument
like the rule does. `tests/installments/test_overdue_twins.py` holds every twin equal to its
rule over random plans and dates, on SQLite and on PostgreSQL. Nothing else in the code
writes these conditions again: the plan and investor querysets, the Structure, the scan
and the reminders all build on these.

Field names are parameters (`prefix`, `field`), so the same twin reads a plan's own columns,
a plan across a join (`plans__`) or the investors' read model.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models.functions import Coalesce, Greatest

from backoffice.lib.db import AddDays, DaysBetween, date_value

from . import rules

MONEY_FIELD = models.DecimalField(max_digits=14, decimal_places=2)


def is_overdue(today: dt.date, *, field: str = "oldest_unpaid_due_date") -> models.Q:
    """`rules.is_overdue(due_date, today)`: unpaid and due before today. On a plan's oldest
    unpaid due date, or on an investor's, it says whether the plan or investor is overdue."""
    return models.Q(**{f"{field}__lt": today})


def flag(condition: models.Q) -> models.Case:
    """A condition as a boolean column that is never NULL (a comparison with a NULL date is
    NULL in SQL, and NULL is neither overdue nor not)."""
    return models.Case(
        models.When(condition, then=models.Value(True)),
        default=models.Value(False),
        output_field=models.BooleanField(),
    )


def grace_deadline(*, prefix: str = "") -> Greatest:
    """`rules.grace_deadline`: the oldest unpaid due date + the grace days, pushed later by a
    hold or a restore's extension. NULL when nothing is unpaid.

    GREATEST skips NULLs on PostgreSQL but not on SQLite: the NULLs are coalesced away. The
    partial index `plan_active_grace_idx` indexes this very expression.
    """
    natural = AddDays(f"{prefix}oldest_unpaid_due_date", rules.GRACE_DAYS)
    return Greatest(
        natural,
        Coalesce(f"{prefix}hold_until", natural),
        Coalesce(f"{prefix}grace_extended_to", natural),
    )


def latest_natural_deadline(today: dt.date) -> dt.date:
    """Below this date a grace deadline can only be an overdue plan's own, never a hold's or
    an extension's that outlives it: a plan not yet overdue has its deadline at today + the
    grace days or later (`rules.grace_deadline` with an oldest unpaid due date >= today)."""
    return today + dt.timedelta(days=rules.GRACE_DAYS)


def days_left(deadline: str | models.Expression, today: dt.date) -> DaysBetween:
    """`rules.days_left`: the grace deadline − today, negative once it has passed."""
    return DaysBetween(deadline, date_value(today))


def in_last_days(today: dt.date, *, field: str = "grace_deadline") -> models.Q:
    """`rules.in_last_days` on a grace deadline: at most LAST_DAYS days left (or past it)."""
    return models.Q(**{f"{field}__lte": today + dt.timedelta(days=rules.LAST_DAYS)})


def overdue_installment(today: dt.date, *, prefix: str = "") -> models.Q:
    """The installments that `rules.overdue_amount` adds up: unpaid, due before today, of an
    active plan (a cancelled plan is past saving; a completed one owes nothing)."""
    # PlanStatus.ACTIVE: this module sits below the models, which build on it.
    return unpaid_before(today, prefix=prefix) & models.Q(**{f"{prefix}plan__status": "active"})


def unpaid_before(today: dt.date, *, prefix: str = "") -> models.Q:
    """Of an active plan's installments, those `overdue_installment` keeps: unpaid and due
    before today. For a join of active plans to their installments (a `FilteredRelation`
    cannot reach back to the plan)."""
    return models.Q(**{f"{prefix}paid_on__isnull": True, f"{prefix}due_date__lt": today})


def unpaid(*, prefix: str = "") -> models.CombinedExpression:
    """`Installment.unpaid`: the part of an installment not yet paid."""
    return models.F(f"{prefix}amount") - models.F(f"{prefix}paid_amount")


def sum_unpaid(*, prefix: str = "") -> Coalesce:
    """The sum of the unpaid parts of a set of installments (across a join with `prefix`),
    0.00 for none (an aggregate)."""
    return Coalesce(
        models.Sum(unpaid(prefix=prefix)), models.Value(rules.ZERO), output_field=MONEY_FIELD
    )


def overdue_amount(installments: models.QuerySet, today: dt.date, *, group: str) -> Coalesce:
    """`rules.overdue_amount` as a correlated subquery: the unpaid parts of the overdue
    installments among `installments` (correlated to the outer row with OuterRef), summed
    per `group`; 0.00 when there are none."""
    total = (
        installments.filter(overdue_installment(today))
        .order_by()
        .values(group)
        .annotate(total=sum_unpaid())
        .values("total")
    )
    return Coalesce(
        models.Subquery(total, output_field=MONEY_FIELD),
        models.Value(rules.ZERO),
        output_field=MONEY_FIELD,
    )


def overdue_amount_span(today: dt.date, *, plan: str = "plans__") -> dict:
    """`rules.overdue_amount_span` as aggregates over the installments of a group's active
    plans (`plan` reaches the plans; per investor, `plans__`): `amount`, `held_from`,
    `held_until`."""
    installment = f"{plan}installments__"
    owed = models.Q(**{f"{plan}status": "active", f"{installment}paid_on__isnull": True})
    before = owed & models.Q(**{f"{installment}due_date__lt": today})
    after = owed & models.Q(**{f"{installment}due_date__gte": today})
    return {
        "amount": Coalesce(
            models.Sum(unpaid(prefix=installment), filter=before),
            models.Value(rules.ZERO),
            output_field=MONEY_FIELD,
        ),
        "held_from": AddDays(models.Max(f"{installment}due_date", filter=before), 1),
        "held_until": models.Min(f"{installment}due_date", filter=after),
    }


def kept_amount_holds(today: dt.date) -> models.Q:
    """Whether an investor's kept overdue amount (`overdue_amount_span`, stored by the read
    model) is still the amount on `today`."""
    return (models.Q(kept_overdue_from__isnull=True) | models.Q(kept_overdue_from__lte=today)) & (
        models.Q(kept_overdue_until__isnull=True) | models.Q(kept_overdue_until__gte=today)
    )


def in_bucket(
    bucket: str,
    today: dt.date,
    *,
    oldest: str = "oldest_unpaid_due_date",
    deadline: str = "earliest_grace_deadline",
) -> models.Q:
    """`rules.bucket_of` on the investors' read model: the overdue investors of `bucket`.

    An overdue investor's days left are negative exactly when their stored earliest grace
    deadline is before today: a plan not yet overdue has its deadline at
    `latest_natural_deadline(today)` or later, so an earliest deadline before today is an
    overdue plan's, and an overdue plan's deadline before today is the earliest. Their days
    overdue count from the stored oldest unpaid due date, which is overdue."""
    if bucket == rules.PAST_DEADLINE:
        return is_overdue(today, field=oldest) & models.Q(**{f"{deadline}__lt": today})
    first, last = rules.bucket_days(bucket)
    condition = models.Q(**{f"{oldest}__lte": today - dt.timedelta(days=first)})
    if last is not None:
        condition &= models.Q(**{f"{oldest}__gte": today - dt.timedelta(days=last)})
    return condition & models.Q(**{f"{deadline}__gte": today})


def bucket(today: dt.date, *, prefix: str = "") -> models.Case:
    """`rules.bucket_of` as a column of investors (across a join with `prefix`): the bucket
    name, NULL for an investor not overdue."""
    fields = {
        "oldest": f"{prefix}oldest_unpaid_due_date",
        "deadline": f"{prefix}earliest_grace_deadline",
    }
    return models.Case(
        *(
            models.When(in_bucket(name, today, **fields), then=models.Value(name))
            for name in rules.BUCKETS
        ),
        default=None,
        output_field=models.CharField(),
    )
