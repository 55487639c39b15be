"""The participants' daily digests, counted and ranked in the database.

One digest per participant whose structure (every step below them) has overdue clients,
clients in their last days (`installments.rules.LAST_DAYS`), or plans cancelled since the last
scan: counts and the most urgent names. Nothing for a participant with nothing to report.

Two statements, whatever the size of the book:

- the overdue clients: the day's overdue plans not on hold and not past their deadline,
  grouped per investor, the overdue amount summed from one join of the plans to their unpaid
  installments due before the day (on the index of the unpaid ones), not a subquery per
  plan; each client reached by every participant above them (the range of the
  participant's path, `Investor.objects.in_structure_of`); per participant the counts and
  the first `REMINDER_DIGEST_NAMES` clients, ranked by a window function in the order the
  digest lists them: fewest days left, largest amount, name (compared code point by code
  point, as Python compares strings), newest plan first (the order in which the clients
  were read when the list was sorted in Python, a stable sort);
- the plans cancelled from `since` to the day, counted per participant above their investor.

Python reads a few rows per participant and writes the payloads. The rules (grace deadline,
days left, last days, overdue amount) are the SQL twins of `installments.overdue`.
`tests/reminders/test_digest_twins.py` holds the rows equal to digests read naively (every
plan and installment as objects, the rules in Python, the clients sorted in Python) over
random portfolios and trees, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import connection, models
from django.db.models.functions import Length

from clients.models import PATH_END, Investor
from clients.selectors import FEW_PARTICIPANTS
from installments import overdue
from installments.models import Plan, PlanStatus

from ..models import Trigger
from .rows import CONTACT_FIELDS, ContactDetails, Row, RowMaker


def digest_rows(*, scan_date: dt.date, since: dt.date, now: dt.datetime, steps) -> list[Row]:
    """The digest rows of the day (see the module's docstring), participants in the order
    they were first reached: by the newest plan of their clients, then by their newest
    cancelled plan, the nearest participant first."""
    digest_levels = [step for step in steps if step.trigger == Trigger.DIGEST]
    if not digest_levels:
        return []
    digests = _digests(scan_date, since)
    if not digests:
        return []
    contacts = {
        pk: ContactDetails(pk, *(value or "" for value in values))
        for pk, *values in Investor.objects.filter(pk__in=list(digests))
        .order_by()
        .values_list(*CONTACT_FIELDS)
    }
    maker = RowMaker(now, list(digests))
    return [
        row
        for pk in sorted(digests, key=lambda pk: digests[pk].first_reached)
        for step in digest_levels
        for row in maker.rows(
            contacts[pk], step, digest_date=scan_date, payload=digests[pk].payload()
        )
    ]


class _Digest(NamedTuple):
    """A participant's figures: the first clients in the digest's order (`urgent`, as
    (name, phone, days left, amount)), the counts, and what decides their place in the rows."""

    path_length: int
    clients: int = 0
    due_soon: int = 0
    urgent: tuple = ()
    newest_plan: int | None = None  # of the participant's clients
    cancelled: int = 0
    newest_cancelled: int | None = None

    @property
    def first_reached(self) -> tuple:
        # A participant was first reached by their newest client's plan (the clients were
        # read newest plan first), else by their newest cancelled plan; the nearest first.
        if self.newest_plan is not None:
            return (0, -self.newest_plan, -self.path_length)
        return (1, -(self.newest_cancelled or 0), -self.path_length)

    def payload(self) -> dict:
        cap = settings.REMINDER_DIGEST_NAMES
        return {
            "overdue_clients": self.clients,
            # The payload's name for the clients in their last days (the texts read it).
            "due_soon_clients": self.due_soon,
            "cancelled_plans": self.cancelled,
            "urgent": [
                {
                    "name": name,
                    "phone": phone,
                    "days_left": days_left,
                    "overdue_amount": f"{amount:.2f}",
                }
                for name, phone, days_left, amount in self.urgent[:cap]
            ],
            "more": max(0, self.clients - cap),
        }


def _digests(scan_date: dt.date, since: dt.date) -> dict[int, _Digest]:
    """Per participant id with something to report, their digest's figures."""
    digests: dict[int, _Digest] = {}
    for pk, length, clients, due_soon, newest, name, phone, days_left, amount in _ranked(scan_date):
        found = digests.get(pk) or _Digest(length, clients, int(due_soon), newest_plan=newest)
        urgent = (*found.urgent, (name, phone, days_left, _money(amount)))
        digests[pk] = found._replace(urgent=urgent)
    for pk, length, cancelled, newest in _cancelled(scan_date, since):
        found = digests.get(pk) or _Digest(length)
        digests[pk] = found._replace(cancelled=cancelled, newest_cancelled=newest)
    return digests


def _overdue_clients(scan_date: dt.date) -> models.QuerySet:
    """Per investor with an overdue plan not on hold and not past its deadline: the days left
    and whether in their last days (of their most urgent plan), the overdue amount of those
    plans and their newest plan's id, as (investor_id, days_left, last_days, overdue_amount,
    newest_plan)."""
    return (
        Plan.objects.filter(status=PlanStatus.ACTIVE)
        .filter(overdue.is_overdue(scan_date))
        .exclude(hold_until__gte=scan_date)
        .alias(plan_deadline=overdue.grace_deadline())
        .alias(plan_days_left=overdue.days_left("plan_deadline", scan_date))
        .filter(plan_days_left__gte=0)
        # The plans' overdue installments (the plans are active), joined on the index of
        # the unpaid ones: one join for all the plans, not a subquery per plan.
        .alias(
            owed=models.FilteredRelation(
                "installments", condition=overdue.unpaid_before(scan_date, prefix="installments__")
            )
        )
        .order_by()
        .values("investor_id")
        .annotate(
            deadline=models.Min("plan_deadline"),
            overdue_amount=overdue.sum_unpaid(prefix="owed__"),
            newest_plan=models.Max("pk"),
        )
        .annotate(
            days_left=overdue.days_left("deadline", scan_date),
            last_days=overdue.flag(overdue.in_last_days(scan_date, field="deadline")),
        )
        .values_list("investor_id", "days_left", "last_days", "overdue_amount", "newest_plan")
    )


def _with_participants(*tables: tuple[str, models.QuerySet]) -> tuple[str, list]:
    """`WITH` the participants (`participant(id, path, path_length)`) and the given querysets
    as tables."""
    participants = (
        Investor.objects.participants()
        .annotate(path_length=Length("path"))
        .values_list("id", "path", "path_length")
    )
    sqls: list[str] = []
    params: list = []
    for name, queryset in [("participant(id, path, path_length)", participants), *tables]:
        sql, values = queryset.order_by().query.sql_with_params()
        sqls.append(f"{name} AS ({sql})")
        params += values
    return "WITH " + ",\n".join(sqls), params


def _above(table: str, *, many: bool = False) -> str:
    """Every participant (`p`) joined to the investors (`i`) in their structure
    (`Investor.objects.in_structure_of`: a range of the path index) and to the rows of
    `table` (`t`, by `investor_id`) of those investors.

    For few rows or few participants, the planner compares each row's path with each
    participant's. For many of both (`many`), PostgreSQL reads each participant's range of
    the path index (a LATERAL subquery, kept apart by OFFSET 0): the cost then follows the
    structures' sizes, not the rows times the participants. SQLite reads the range itself."""
    investor = connection.ops.quote_name(Investor._meta.db_table)
    below = f"JOIN {investor} i ON i.path > p.path AND i.path < p.path || '{PATH_END}'"
    if many and connection.vendor == "postgresql":
        below = f"""CROSS JOIN LATERAL (
            SELECT id, name, phone FROM {investor}
            WHERE path > p.path AND path < p.path || '{PATH_END}' OFFSET 0) i"""
    return f"""participant p
        {below}
        JOIN {table} t ON t.investor_id = i.id"""


def _many_participants() -> bool:
    """More participants than `clients.selectors.FEW_PARTICIPANTS`."""
    return Investor.objects.participants()[: FEW_PARTICIPANTS + 1].count() > FEW_PARTICIPANTS


def _ranked(scan_date: dt.date) -> list[tuple]:
    """Per participant, their first clients in the digest's order, each as (participant id,
    path length, clients, clients in their last days, newest plan of the clients, name,
    phone, days left, overdue amount)."""
    columns = "clients(investor_id, days_left, last_days, overdue_amount, newest_plan)"
    with_sql, params = _with_participants((columns, _overdue_clients(scan_date)))
    # Names compared code point by code point, as Python's sort did.
    name = 'i.name COLLATE "C"' if connection.vendor == "postgresql" else "i.name COLLATE BINARY"
    # Amounts compared in cents (SQLite sums decimals as floating point).
    amount = "ROUND(t.overdue_amount, 2)"
    sql = f"""
        {with_sql},
        reached AS (
            SELECT p.id AS participant_id, p.path_length, i.name, i.phone,
                   t.days_left, t.last_days, {amount} AS amount, t.newest_plan,
                   ROW_NUMBER() OVER (
                       PARTITION BY p.id
                       ORDER BY t.days_left, {amount} DESC, {name}, t.newest_plan DESC
                   ) AS place
            FROM {_above("clients", many=_many_participants())}),
        ranked AS (
            SELECT r.*, COUNT(*) OVER per AS clients,
                   SUM(CASE WHEN r.last_days THEN 1 ELSE 0 END) OVER per AS due_soon,
                   MAX(r.newest_plan) OVER per AS newest
            FROM reached r
            WINDOW per AS (PARTITION BY r.participant_id))
        SELECT participant_id, path_length, clients, due_soon, newest, name, phone, days_left,
               amount
        FROM ranked WHERE place <= %s
        ORDER BY participant_id, place"""
    # At least the first client of each participant, whose row carries the counts.
    cap = max(settings.REMINDER_DIGEST_NAMES, 1)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, cap])
        return cursor.fetchall()


def _cancelled(scan_date: dt.date, since: dt.date) -> list[tuple]:
    """Per participant, the plans cancelled from `since` to `scan_date` in their structure,
    as (participant id, path length, plans, newest plan)."""
    cancelled = Plan.objects.filter(
        status=PlanStatus.CANCELLED, cancelled_on__gte=since, cancelled_on__lte=scan_date
    ).values_list("id", "investor_id")
    with_sql, params = _with_participants(("cancelled(id, investor_id)", cancelled))
    sql = f"""
        {with_sql}
        SELECT p.id, p.path_length, COUNT(*), MAX(t.id)
        FROM {_above("cancelled")}
        GROUP BY p.id, p.path_length"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _money(value) -> Decimal:
    """An amount in cents as read from the database: a Decimal from PostgreSQL, a float or
    an integer from SQLite (whose shortest text is the amount)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))
