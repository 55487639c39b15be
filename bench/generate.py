"""The synthetic portfolio, loaded straight into PostgreSQL.

Python draws what needs judgement: the investor trees (paths built with `path_step`, exactly
as `investor_create` does) and, for every plan, a scenario (completed, cancelled, on track,
overdue with each number of days left, past its deadline tonight, on hold, restored). Those
rows go in with COPY. PostgreSQL then expands the plans into installments, payments,
allocations and the share ledger with set-based INSERT … SELECT, applying the same rules as
`installments.rules` (schedule dates and amounts, progressive and final share credits), so
every derived column is what the services would have written. Secondary indexes and unique
constraints are dropped around the load and rebuilt after it; sequences are reset; the
tables are analysed.

The scenario: the nightly scan ran last night. Tonight's scan (`today`) cancels exactly the
plans whose oldest unpaid installment fell due 20 days ago, the day's natural cohort.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection as default_connection
from django.db import transaction

from clients.models import path_step
from installments import rules

from .scale import Scale

logger = logging.getLogger("bench")
GRACE = rules.GRACE_DAYS  # the grace days, in the SQL below

GENERATOR_VERSION = 2
TOP_USERNAME = "bench-top-participant"
FINAL_FRACTION = rules.DEFAULT_FINAL_PAYMENT_FRACTION
# Another participant's clone of the portfolio starts at this id (the "10x" dataset): below
# 36**6 an id's path step starts with "0", so a clone's step is the original's with its first
# character replaced (see grow).
CLONE_ID_STRIDE = 36**6


@dataclass(frozen=True)
class PackageSpec:
    name: str
    installment_count: int
    price: Decimal
    shares: int
    weight: float


# Ten installments per plan on average; 1000.00 / 12 leaves a remainder on the last one.
PACKAGES = (
    PackageSpec("Starter 6", 6, Decimal("1500.00"), 1500, 0.2),
    PackageSpec("Standard 10", 10, Decimal("3000.00"), 3000, 0.4),
    PackageSpec("Growth 12", 12, Decimal("1000.00"), 1000, 0.2),
    PackageSpec("Premium 12", 12, Decimal("5000.00"), 4500, 0.2),
)

# Shares of the plans in each scenario (the rest are on track). Each scenario is at least
# `minimum` plans, so a tiny portfolio still has every state.
SCENARIOS = {
    "completed": (0.18, 3),
    "cancelled": (0.14, 3),
    "overdue": (0.09, 2 * (rules.GRACE_DAYS)),  # days left 0..18, each value present
    "hold": (0.02, 3),
    "restored": (0.005, 3),
    "past_deadline": (0.002, 3),  # grace deadline yesterday: tonight's scan cancels them
}
PARTIAL_PAYMENT_SHARE = 0.3

FIRST_NAMES = [
    "Aarav",
    "Priya",
    "Rohan",
    "Sita",
    "Arjun",
    "Kavya",
    "Vikram",
    "Anjali",
    "Rahul",
    "Meera",
    "Suresh",
    "Lakshmi",
    "Kiran",
    "Deepa",
    "Ramesh",
    "Sunita",
    "Bikash",
    "Sarita",
    "Prakash",
    "Gita",
    "Manoj",
    "Pooja",
    "Anil",
    "Rekha",
    "Nabin",
    "Asha",
]
LAST_NAMES = [
    "Sharma",
    "Verma",
    "Gurung",
    "Mehta",
    "Patel",
    "Rai",
    "Thapa",
    "Singh",
    "Iyer",
    "Nair",
    "Shrestha",
    "Joshi",
    "Reddy",
    "Das",
    "Khan",
    "Tamang",
    "Bhatt",
    "Pillai",
    "Kumar",
    "Adhikari",
]
LANGUAGES = ("en", "en", "en", "en", "en", "hi", "hi", "hi", "hi", "ne")

# Tables the load writes, in dependency order; their secondary indexes are rebuilt after it.
LOADED_TABLES = (
    "clients_investor",
    "installments_plan",
    "installments_installment",
    "installments_payment",
    "installments_allocation",
    "installments_shareledgerentry",
    "installments_planevent",
)


# ---------------------------------------------------------------------------- COPY plumbing


class _RowsFile(io.TextIOBase):
    """A read-only file over an iterator of rows, for copy_expert: streams, never buffers
    the whole table."""

    def __init__(self, rows: Iterable[tuple]):
        self._lines = ("\t".join(_copy_value(v) for v in row) + "\n" for row in rows)
        self._buffer = ""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> str:
        while size < 0 or len(self._buffer) < size:
            chunk = "".join(line for _, line in zip(range(2000), self._lines, strict=False))
            if not chunk:
                break
            self._buffer += chunk
        if size < 0:
            out, self._buffer = self._buffer, ""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    readline = read


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _copy(cursor, table: str, columns: Iterable[str], rows: Iterable[tuple]) -> None:
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    cursor.copy_expert(sql, _RowsFile(rows), size=1 << 20)


# ---------------------------------------------------------------------------- the trees


def build_investors(scale: Scale, rng: random.Random) -> Iterator[tuple]:
    """Investor 1 is the top participant. Ids 2..structure+1 are their downline: a spine of
    `spine` levels (so the structure is at least that deep), then a random recursive tree
    (each client sponsored by a uniformly drawn earlier member). The other investors form
    many smaller trees."""
    paths: list[str] = [""] * (scale.investors + 1)
    depths = [0] * (scale.investors + 1)
    structure_end = 1 + scale.structure
    tree_start = 1
    for investor_id in range(1, scale.investors + 1):
        new_tree = investor_id in (1, structure_end + 1) or (
            investor_id > structure_end and rng.random() < 1 / 150
        )
        if new_tree:
            sponsor = None
            tree_start = investor_id
        elif investor_id <= 1 + scale.spine:
            sponsor = investor_id - 1
        else:
            sponsor = rng.randrange(tree_start, investor_id)
        paths[investor_id] = (paths[sponsor] if sponsor else "") + path_step(investor_id)
        depths[investor_id] = depths[sponsor] + 1 if sponsor else 1
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        yield (
            investor_id,
            f"{first} {last}",
            sponsor,
            paths[investor_id],
            depths[investor_id],
            f"+9198{investor_id:08d}",
            f"{first.lower()}.{last.lower()}{investor_id}@example.com",
            f"@{first.lower()}{investor_id}" if investor_id % 3 == 0 else "",
            rng.choice(LANGUAGES),
            "",
            None,
            "2024-01-01 00:00:00+00",
        )


INVESTOR_COLUMNS = [
    "id",
    "name",
    "sponsor_id",
    "path",
    "depth",
    "phone",
    "email",
    "messenger",
    "language",
    "time_zone",
    "user_id",
    "created_at",
]


# ---------------------------------------------------------------------------- the plans


@dataclass(frozen=True)
class PlanScenario:
    plan_id: int
    investor_id: int
    package_index: int
    first_due_date: dt.date
    paid_count: int
    partial: Decimal | None
    partial_on: dt.date | None
    status: str
    oldest_unpaid_due_date: dt.date | None
    cancelled_on: dt.date | None
    hold_until: dt.date | None
    grace_extended_to: dt.date | None
    first_installment_id: int


def _scenario_labels(scale: Scale, rng: random.Random) -> list[str]:
    labels: list[str] = []
    for label, (share, minimum) in SCENARIOS.items():
        labels += [label] * max(minimum, round(scale.plans * share))
    if len(labels) > scale.plans:
        raise ValueError(f"{scale.plans} plans cannot hold every scenario")
    labels += ["on_track"] * (scale.plans - len(labels))
    rng.shuffle(labels)
    return labels


def _anchor(unpaid_due: dt.date, paid_count: int) -> tuple[dt.date, int]:
    """The first due date that puts installment `paid_count + 1` on `unpaid_due`. A month end
    cannot always be reached back from a shorter month: then nothing was paid yet."""
    first = rules.add_months(unpaid_due, -paid_count)
    if rules.add_months(first, paid_count) == unpaid_due:
        return first, paid_count
    return unpaid_due, 0


def build_plans(scale: Scale, today: dt.date, rng: random.Random) -> Iterator[PlanScenario]:
    day = dt.timedelta(days=1)
    amounts = [rules.split_amount(p.price, p.installment_count) for p in PACKAGES]
    weights = [p.weight for p in PACKAGES]
    next_installment_id = 1
    counters: dict[str, int] = {}
    for plan_id, label in enumerate(_scenario_labels(scale, rng), start=1):
        index = counters[label] = counters.get(label, -1) + 1
        package_index = rng.choices(range(len(PACKAGES)), weights)[0]
        count = PACKAGES[package_index].installment_count
        status, cancelled_on, hold_until, extended_to = "active", None, None, None
        if label == "completed":
            back = rng.randint(1, 24)
            first = rules.add_months(today - rng.randint(0, 27) * day, -(count - 1) - back)
            paid = count
        else:
            paid = rng.randint(0, count - 1)
            if label == "cancelled":
                unpaid_due = today - rng.randint(rules.GRACE_DAYS + 2, 700) * day
            elif label == "overdue":
                # days left = due + the grace days − today cycles through 0 .. grace days − 1
                unpaid_due = today - (rules.GRACE_DAYS - index % rules.GRACE_DAYS) * day
            elif label == "past_deadline":
                unpaid_due = today - (rules.GRACE_DAYS + 1) * day
            elif label == "hold":
                unpaid_due = today - rng.randint(1, 60) * day
                hold_until = today + rng.randint(0, 30) * day
            elif label == "restored":
                unpaid_due = today - rng.randint(rules.GRACE_DAYS + 2, 90) * day
                extended_to = today + rng.randint(0, rules.GRACE_DAYS - 1) * day
            else:  # on track: due today, in 3 days (upcoming), … within a month
                unpaid_due = today + (index % 31) * day
            first, paid = _anchor(unpaid_due, paid)
            if label == "cancelled":
                status = "cancelled"
                cancelled_on = unpaid_due + (rules.GRACE_DAYS + 1) * day
        partial = partial_on = None
        oldest_unpaid = None
        if paid < count:
            oldest_unpaid = rules.add_months(first, paid)
            if rng.random() < PARTIAL_PAYMENT_SHARE:
                owed_cents = int(amounts[package_index][paid] * 100)
                partial = Decimal(rng.randint(1, owed_cents - 1)) / 100
                partial_on = min(oldest_unpaid - 3 * day, today - day)
        yield PlanScenario(
            plan_id=plan_id,
            investor_id=rng.randint(1, scale.investors),
            package_index=package_index,
            first_due_date=first,
            paid_count=paid,
            partial=partial,
            partial_on=partial_on,
            status="completed" if paid == count else status,
            oldest_unpaid_due_date=oldest_unpaid,
            cancelled_on=cancelled_on,
            hold_until=hold_until,
            grace_extended_to=extended_to,
            first_installment_id=next_installment_id,
        )
        next_installment_id += count


PLAN_COLUMNS = [
    "id",
    "investor_id",
    "package_id",
    "stage_id",
    "share_price",
    "shares",
    "price",
    "final_payment_fraction",
    "purchased_on",
    "first_due_date",
    "status",
    "oldest_unpaid_due_date",
    "completed_on",
    "cancelled_on",
    "hold_until",
    "hold_reason",
    "grace_extended_to",
    "created_at",
]


def _plan_rows(
    plans: Iterable[PlanScenario], package_ids: list[int], stage_id: int, today: dt.date
) -> Iterator[tuple]:
    fraction = rules.format_fraction(FINAL_FRACTION)
    for p in plans:
        spec = PACKAGES[p.package_index]
        purchased = min(p.first_due_date - dt.timedelta(days=7 + p.plan_id % 20), today)
        purchased = min(purchased, today - dt.timedelta(days=30))
        yield (
            p.plan_id,
            p.investor_id,
            package_ids[p.package_index],
            stage_id,
            "1.00",
            spec.shares,
            spec.price,
            fraction,
            purchased,
            p.first_due_date,
            p.status,
            p.oldest_unpaid_due_date,
            None,  # completed_on: the last payment's date, set once installments exist
            p.cancelled_on,
            p.hold_until,
            "Hospital stay; family asked for time." if p.hold_until else "",
            p.grace_extended_to,
            f"{purchased} 06:00:00+00",
        )


# ---------------------------------------------------------------------------- SQL expansion

# Installment k of a plan: due k−1 months after the first due date (PostgreSQL clamps to the
# month's end and counts from the anchor, as rules.add_months does); P/N rounded down to the
# cent, the remainder on the last. Paid installments were paid 5 days early to 15 days late
# (within grace, never after yesterday); the dates only grow with k because installments are
# at least 28 days apart.
EXPAND_INSTALLMENTS = """
INSERT INTO installments_installment (id, plan_id, number, due_date, amount, paid_amount, paid_on)
SELECT s.first_installment_id + k - 1, p.id, k, d.due, a.amount,
       CASE WHEN k <= s.paid_count THEN a.amount
            WHEN k = s.paid_count + 1 AND s.partial IS NOT NULL THEN s.partial
            ELSE 0 END,
       CASE WHEN k <= s.paid_count
            THEN LEAST(d.due + (((p.id * 31 + k * 17) %% 21) - 5)::int, %(yesterday)s) END
FROM installments_plan p
JOIN bench_scenario s ON s.plan_id = p.id
CROSS JOIN LATERAL generate_series(1, s.installment_count) AS k
CROSS JOIN LATERAL (
    SELECT (p.first_due_date + make_interval(months => k - 1))::date AS due
) d
CROSS JOIN LATERAL (
    SELECT CASE WHEN k < s.installment_count THEN trunc(p.price / s.installment_count, 2)
                ELSE p.price - trunc(p.price / s.installment_count, 2) * (s.installment_count - 1)
           END AS amount
) a
"""

# One payment per paid or part-paid installment, allocated to it alone; the payment, its
# allocation and its ledger credit share the installment's id.
EXPAND_PAYMENTS = """
INSERT INTO installments_payment (id, plan_id, amount, received_on, reference, recorded_at,
                                  recorded_by_id)
SELECT i.id, i.plan_id, i.paid_amount, COALESCE(i.paid_on, s.partial_on),
       'BENCH-' || i.id, COALESCE(i.paid_on, s.partial_on) + time '10:00', NULL
FROM installments_installment i
JOIN bench_scenario s ON s.plan_id = i.plan_id
WHERE i.paid_amount > 0
"""

EXPAND_ALLOCATIONS = """
INSERT INTO installments_allocation (id, payment_id, installment_id, amount)
SELECT i.id, i.id, i.id, i.paid_amount FROM installments_installment i WHERE i.paid_amount > 0
"""

# rules.shares_for_payment: the progressive entitlement floor(S × (1 − F) × paid / P) in exact
# integer cents; the payment that completes the plan credits all that is still missing. A
# payment whose progressive credit rounds to nothing writes no ledger row (as the service).
EXPAND_LEDGER = """
INSERT INTO installments_shareledgerentry (id, plan_id, payment_id, kind, shares, credited_on,
                                           promotion_id, created_at)
SELECT i.id, i.plan_id, i.id, c.kind, c.shares, COALESCE(i.paid_on, s.partial_on), NULL,
       COALESCE(i.paid_on, s.partial_on) + time '10:00'
FROM installments_installment i
JOIN installments_plan p ON p.id = i.plan_id
JOIN bench_scenario s ON s.plan_id = i.plan_id
CROSS JOIN LATERAL (
    SELECT trunc(p.price / s.installment_count, 2) * (i.number - 1) AS paid_before
) x
CROSS JOIN LATERAL (
    SELECT (x.paid_before * 100)::bigint AS before,
           ((x.paid_before + i.paid_amount) * 100)::bigint AS after,
           (p.price * 100)::bigint AS price
) m
CROSS JOIN LATERAL (
    SELECT CASE WHEN m.after >= m.price THEN 'final' ELSE 'progressive' END AS kind,
           CASE WHEN m.after >= m.price
                THEN p.shares - p.shares::bigint * %(keep)s * m.before / (%(den)s * m.price)
                ELSE p.shares::bigint * %(keep)s * m.after / (%(den)s * m.price)
                     - p.shares::bigint * %(keep)s * m.before / (%(den)s * m.price)
           END AS shares
) c
WHERE i.paid_amount > 0 AND c.shares > 0
"""

COMPLETED_ON = """
UPDATE installments_plan p SET completed_on = i.paid_on
FROM installments_installment i JOIN bench_scenario s ON s.plan_id = i.plan_id
WHERE p.status = 'completed' AND i.plan_id = p.id AND i.number = s.installment_count
"""

# The audit entries the nightly scans wrote for the plans cancelled before today.
CANCELLED_EVENTS = f"""
INSERT INTO installments_planevent (plan_id, kind, at, actor_id, reason, data)
SELECT p.id, 'cancelled', (p.cancelled_on + time '02:00') AT TIME ZONE %(zone)s, NULL,
       'Grace deadline ' || (p.oldest_unpaid_due_date + {GRACE}) || ' passed (oldest unpaid '
           || 'installment due ' || p.oldest_unpaid_due_date || ').',
       jsonb_build_object('scan_date', p.cancelled_on,
                          'grace_deadline', p.oldest_unpaid_due_date + {GRACE})
FROM installments_plan p WHERE p.status = 'cancelled'
ORDER BY p.id
"""


# ---------------------------------------------------------------------------- indexes


@dataclass
class _Deferred:
    """Secondary indexes and unique constraints of a table, dropped for a bulk load."""

    table: str
    constraints: list[tuple[str, str]]
    indexes: list[tuple[str, str]]


def drop_secondary_indexes(cursor, tables: Iterable[str]) -> list[_Deferred]:
    deferred = []
    for table in tables:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'u'",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
            [table],
        )
        indexes = cursor.fetchall()
        for name, _ in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        deferred.append(_Deferred(table, constraints, indexes))
    return deferred


def restore_secondary_indexes(cursor, deferred: list[_Deferred]) -> None:
    for item in deferred:
        for _, definition in item.indexes:
            cursor.execute(definition)
        for name, definition in item.constraints:
            cursor.execute(f'ALTER TABLE {item.table} ADD CONSTRAINT "{name}" {definition}')


def reset_sequences(cursor, tables: Iterable[str]) -> None:
    for table in tables:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT max(id) FROM {table}), 1))"
        )


def _bulk_session(cursor) -> None:
    # Foreign keys are triggers: replica role skips them for this transaction (the data is
    # generated consistent and the test suite checks it); big sort memory for index builds.
    cursor.execute("SET LOCAL session_replication_role = replica")
    cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute("SET LOCAL synchronous_commit = off")


def _timed(step: str, timings: dict[str, float]):
    class _Timer:
        def __enter__(self):
            self.started = time.perf_counter()
            logger.info("  %s …", step)

        def __exit__(self, *exc):
            timings[step] = round(time.perf_counter() - self.started, 2)
            logger.info("  %s: %.1f s", step, timings[step])

    return _Timer()


# ---------------------------------------------------------------------------- the load


def load_portfolio(*, scale: Scale, today: dt.date, seed: int = 2026, connection=None) -> dict:
    """Replace the portfolio in the database with a generated one; return its description
    (what the harness needs: the date, the top participant, their token, the row counts)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    connection = connection or default_connection
    rng = random.Random(seed)
    timings: dict[str, float] = {}
    yesterday = today - dt.timedelta(days=1)
    with transaction.atomic(using=connection.alias), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg2's own cursor: copy_expert
        _bulk_session(cursor)
        with _timed("empty the tables", timings):
            cursor.execute(
                # The scan's runs too: a run of last night kept over a new portfolio would
                # claim an outbox that the CASCADE from the plans just emptied.
                "TRUNCATE " + ", ".join(LOADED_TABLES) + ", installments_package, "
                "installments_purchasestage, installments_promotion, authtoken_token, "
                "reminders_reminder, reminders_scanchunk, reminders_scanrun "
                "RESTART IDENTITY CASCADE"
            )
            get_user_model().objects.using(connection.alias).filter(username=TOP_USERNAME).delete()
            deferred = drop_secondary_indexes(cursor, LOADED_TABLES)
        cursor.execute(
            "INSERT INTO installments_purchasestage (name, share_price, starts_on) "
            "VALUES ('Bench stage', 1.00, '2020-01-01') RETURNING id"
        )
        stage_id = cursor.fetchone()[0]
        package_ids = []
        for spec in PACKAGES:
            cursor.execute(
                "INSERT INTO installments_package (name, shares, price, installment_count, "
                "final_payment_fraction, is_active) VALUES (%s, %s, %s, %s, %s, true) "
                "RETURNING id",
                [
                    spec.name,
                    spec.shares,
                    spec.price,
                    spec.installment_count,
                    rules.format_fraction(FINAL_FRACTION),
                ],
            )
            package_ids.append(cursor.fetchone()[0])

        with _timed("investors (COPY)", timings):
            _copy(cursor, "clients_investor", INVESTOR_COLUMNS, build_investors(scale, rng))
        with _timed("plans (COPY)", timings):
            # A second portfolio in the same transaction (the tests) finds the first's.
            cursor.execute("DROP TABLE IF EXISTS bench_scenario")
            cursor.execute(
                "CREATE TEMPORARY TABLE bench_scenario (plan_id bigint PRIMARY KEY, "
                "installment_count int, first_installment_id bigint, paid_count int, "
                "partial numeric(14, 2), partial_on date) ON COMMIT DROP"
            )
            plans = list(build_plans(scale, today, rng))
            _copy(
                cursor,
                "installments_plan",
                PLAN_COLUMNS,
                _plan_rows(plans, package_ids, stage_id, today),
            )
            _copy(
                cursor,
                "bench_scenario",
                [
                    "plan_id",
                    "installment_count",
                    "first_installment_id",
                    "paid_count",
                    "partial",
                    "partial_on",
                ],
                (
                    (
                        p.plan_id,
                        PACKAGES[p.package_index].installment_count,
                        p.first_installment_id,
                        p.paid_count,
                        p.partial,
                        p.partial_on,
                    )
                    for p in plans
                ),
            )
            del plans
            cursor.execute("ANALYZE bench_scenario")
        with _timed("installments", timings):
            cursor.execute(EXPAND_INSTALLMENTS, {"yesterday": yesterday})
        with _timed("payments, allocations, share ledger", timings):
            cursor.execute(EXPAND_PAYMENTS)
            cursor.execute(EXPAND_ALLOCATIONS)
            keep = FINAL_FRACTION.denominator - FINAL_FRACTION.numerator
            cursor.execute(EXPAND_LEDGER, {"keep": keep, "den": FINAL_FRACTION.denominator})
            cursor.execute(COMPLETED_ON)
            cursor.execute(CANCELLED_EVENTS, {"zone": settings.TIME_ZONE})
        with _timed("investors' read model", timings):
            cursor.execute(INVESTOR_READ_MODEL, {"from_id": 0, "today": today})
            cursor.execute(INVESTOR_PRICES, {"from_id": 0})
        with _timed("indexes and constraints", timings):
            restore_secondary_indexes(cursor, deferred)
            reset_sequences(cursor, LOADED_TABLES)

        user = (
            get_user_model()
            .objects.using(connection.alias)
            .create(username=TOP_USERNAME, first_name="Bench", last_name="Top participant")
        )
        token = Token.objects.using(connection.alias).create(user=user)
        cursor.execute("UPDATE clients_investor SET user_id = %s WHERE id = 1", [user.pk])
        counts = {}
        for table in LOADED_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*), max(depth) - 1 FROM clients_investor WHERE path > %s AND path < %s",
            [path_step(1), path_step(1) + "~"],
        )
        structure_size, structure_depth = cursor.fetchone()
        with _timed("analyze", timings):
            for table in LOADED_TABLES:
                cursor.execute(f"ANALYZE {table}")
    return {
        "generator_version": GENERATOR_VERSION,
        "scale": scale.name,
        "seed": seed,
        "today": today.isoformat(),
        "top_investor": 1,
        "top_token": token.key,
        "structure_size": structure_size,
        "structure_depth": structure_depth,
        "counts": counts,
        "timings": timings,
    }


def vacuum(tables: Iterable[str] = LOADED_TABLES, connection=None, *, full: bool = False) -> None:
    """VACUUM ANALYZE (outside a transaction): sets the visibility map, so the reads that
    can be index-only are, as on a table autovacuum has caught up with. `full` packs the
    tables too (VACUUM FULL), as after a one-time rewrite of every row."""
    connection = connection or default_connection
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ({'FULL, ' if full else ''}ANALYZE) {table}")


def describe(meta: dict) -> str:
    return json.dumps(meta, indent=2, sort_keys=True)


# ---------------------------------------------------------------------------- the 10x dataset

GROWN_TABLES = ("clients_investor", "installments_plan", "installments_installment")

# The Structure's read model (installments.read_model.investor_overdue_refresh), set-based for
# every investor from `from_id` on: what the services keep, computed once after the bulk load,
# the kept overdue amount with the days it holds for around `today`
# (installments.rules.overdue_amount_span).
INVESTOR_READ_MODEL = f"""
UPDATE clients_investor AS i
SET oldest_unpaid_due_date = agg.oldest, earliest_grace_deadline = agg.grace,
    kept_overdue_amount = COALESCE(owed.amount, 0), kept_overdue_from = owed.held_from,
    kept_overdue_until = owed.held_until
FROM (
    SELECT investor_id, MIN(oldest_unpaid_due_date) AS oldest,
           MIN(GREATEST(oldest_unpaid_due_date + {GRACE}, hold_until, grace_extended_to)) AS grace
    FROM installments_plan
    WHERE status = 'active' AND investor_id >= %(from_id)s
    GROUP BY investor_id
) AS agg
LEFT JOIN (
    SELECT p.investor_id,
           SUM(i.amount - i.paid_amount) FILTER (WHERE i.due_date < %(today)s) AS amount,
           MAX(i.due_date) FILTER (WHERE i.due_date < %(today)s) + 1 AS held_from,
           MIN(i.due_date) FILTER (WHERE i.due_date >= %(today)s) AS held_until
    FROM installments_plan p JOIN installments_installment i ON i.plan_id = p.id
    WHERE p.status = 'active' AND i.paid_on IS NULL AND p.investor_id >= %(from_id)s
    GROUP BY p.investor_id
) AS owed ON owed.investor_id = agg.investor_id
WHERE i.id = agg.investor_id
"""

# The rest of the read model: the price of all an investor's plans and of the cancelled ones.
INVESTOR_PRICES = """
UPDATE clients_investor AS i
SET plans_price = agg.price, cancelled_price = agg.cancelled
FROM (
    SELECT investor_id, SUM(price) AS price,
           COALESCE(SUM(price) FILTER (WHERE status = 'cancelled'), 0) AS cancelled
    FROM installments_plan
    WHERE investor_id >= %(from_id)s
    GROUP BY investor_id
) AS agg
WHERE i.id = agg.investor_id
"""


def grow(*, factor: int, today: dt.date, connection=None) -> dict:
    """Add (factor − 1) copies of the portfolio as inert history: other participants' trees,
    with the same shapes, whose active plans are paid off. The tables the scan and the
    Structure read (investors, plans, installments) get `factor` times the rows, while tonight's
    scan still changes the same plans and the top participant's structure is the same.

    A clone's ids are the original's plus a stride; for investors the stride is c × 36**6, so
    the clone's path step is path_step(id + c × 36**6): the original step with its leading "0"
    replaced by the digit c.
    """
    connection = connection or default_connection
    timings: dict[str, float] = {}
    with transaction.atomic(using=connection.alias), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        _bulk_session(cursor)
        cursor.execute("SELECT max(id) FROM clients_investor")
        if cursor.fetchone()[0] >= CLONE_ID_STRIDE:
            raise ValueError("the portfolio has already been grown")
        cursor.execute("SELECT max(id) FROM installments_plan")
        plan_stride = cursor.fetchone()[0]
        cursor.execute("SELECT max(id) FROM installments_installment")
        installment_stride = cursor.fetchone()[0]
        deferred = drop_secondary_indexes(cursor, GROWN_TABLES)
        for copy in range(1, factor):
            with _timed(f"copy {copy}", timings):
                _grow_copy(cursor, copy, plan_stride, installment_stride, today)
        with _timed("clones' read model", timings):
            cursor.execute(INVESTOR_READ_MODEL, {"from_id": CLONE_ID_STRIDE, "today": today})
            cursor.execute(INVESTOR_PRICES, {"from_id": CLONE_ID_STRIDE})
        with _timed("indexes and constraints", timings):
            restore_secondary_indexes(cursor, deferred)
            reset_sequences(cursor, GROWN_TABLES)
        counts = {}
        for table in GROWN_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    return {"factor": factor, "counts": counts, "timings": timings}


def _grow_copy(cursor, copy: int, plan_stride: int, installment_stride: int, today) -> None:
    params = {
        "c": copy,
        "digit": path_step(copy)[-1],
        "istride": CLONE_ID_STRIDE * copy,
        "pstride": plan_stride * copy,
        "nstride": installment_stride * copy,
        "today": today,
        "yesterday": today - dt.timedelta(days=1),
        "long_ago": today - dt.timedelta(days=60),
    }
    cursor.execute(
        """
        INSERT INTO clients_investor (id, name, sponsor_id, path, depth, phone, email, messenger,
                                      language, time_zone, user_id, created_at)
        SELECT id + %(istride)s, name, sponsor_id + %(istride)s,
               regexp_replace(path, '0(.{6})', %(digit)s || '\\1', 'g'), depth, phone, email,
               messenger, language, time_zone, NULL, created_at
        FROM clients_investor WHERE id < %(stride)s ORDER BY id
        """,
        {**params, "stride": CLONE_ID_STRIDE},
    )
    # Every active plan in a clone is history that was paid off: completed, neither overdue
    # nor on any reminder level's day, so tonight's scan changes the same plans at 10x.
    cursor.execute(
        """
        INSERT INTO installments_plan (id, investor_id, package_id, stage_id, share_price, shares,
            price, final_payment_fraction, purchased_on, first_due_date, status,
            oldest_unpaid_due_date, completed_on, cancelled_on, hold_until, hold_reason,
            grace_extended_to, created_at)
        SELECT p.id + %(pstride)s, p.investor_id + %(istride)s, p.package_id, p.stage_id,
               p.share_price, p.shares, p.price, p.final_payment_fraction, p.purchased_on,
               p.first_due_date,
               CASE WHEN settled THEN 'completed' ELSE p.status END,
               CASE WHEN settled THEN NULL ELSE p.oldest_unpaid_due_date END,
               CASE WHEN settled THEN LEAST((p.first_due_date
                        + make_interval(months => k.installment_count - 1))::date, %(yesterday)s)
                    ELSE p.completed_on END,
               -- Cancelled long ago: no cancellation notice is due for a clone tonight.
               CASE WHEN p.cancelled_on IS NULL THEN NULL
                    ELSE LEAST(p.cancelled_on, %(long_ago)s) END,
               CASE WHEN settled THEN NULL ELSE p.hold_until END,
               CASE WHEN settled THEN '' ELSE p.hold_reason END,
               CASE WHEN settled THEN NULL ELSE p.grace_extended_to END,
               p.created_at
        FROM installments_plan p
        JOIN installments_package k ON k.id = p.package_id
        CROSS JOIN LATERAL (
            SELECT p.status = 'active' AS settled
        ) s
        WHERE p.id <= %(plan_max)s ORDER BY p.id
        """,
        {**params, "plan_max": plan_stride},
    )
    cursor.execute(
        """
        INSERT INTO installments_installment (id, plan_id, number, due_date, amount, paid_amount,
                                              paid_on)
        SELECT i.id + %(nstride)s, i.plan_id + %(pstride)s, i.number, i.due_date, i.amount,
               CASE WHEN settled THEN i.amount ELSE i.paid_amount END,
               CASE WHEN settled AND i.paid_on IS NULL THEN LEAST(i.due_date, %(yesterday)s)
                    ELSE i.paid_on END
        FROM installments_installment i
        JOIN installments_plan p ON p.id = i.plan_id
        CROSS JOIN LATERAL (
            SELECT p.status = 'active' AS settled
        ) s
        WHERE i.id <= %(installment_max)s ORDER BY i.id
        """,
        {**params, "installment_max": installment_stride},
    )
