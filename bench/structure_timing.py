"""The Structure and dashboard requests timed in process: their latency, and how much of it
is Python (the request's time minus the time its SQL statements take, driver round trips
included)."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from contextlib import contextmanager

from django.db import connection, models, transaction
from django.test import Client

from .endpoints import DASHBOARD_PATH, structure_url


class SqlClock:
    """Adds up the time the connection spends executing statements (and their count)."""

    def __init__(self):
        self.seconds = 0.0
        self.statements = 0
        self.timings: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - started
            self.seconds += took
            self.statements += 1
            self.timings.append((took, sql))


@contextmanager
def sql_clock():
    clock = SqlClock()
    with connection.execute_wrapper(clock):
        yield clock


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure_structure(token: str, page: int, requests: int) -> dict:
    """`requests` timed GETs of the Structure page after two warm-ups. The Python share is
    the median over the requests of (request time − SQL time) ÷ request time."""
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    url = structure_url(page)
    for _ in range(2):  # warm the connection, the caches, the plan and the compiled SQL
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content!r}")
    times, sql_times, shares, queries = [], [], [], 0
    for _ in range(requests):
        with sql_clock() as clock:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
        assert response.status_code == 200
        times.append(elapsed * 1000)
        sql_times.append(clock.seconds * 1000)
        shares.append((elapsed - clock.seconds) / elapsed)
        queries = max(queries, clock.statements)
    return {
        "structure_p50_ms": statistics.median(times),
        "structure_p95_ms": _p95(times),
        "structure_sql_ms": statistics.median(sql_times),
        "structure_python_share": statistics.median(shares),
        "structure_queries": queries,
        "structure_count": response.json()["count"],
    }


def measure_dashboard(token: str, requests: int) -> dict:
    """`requests` timed GETs of GET /api/dashboard/ as the top participant, after two
    warm-ups; and the slowest statements of the last request (for the report)."""
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    for _ in range(2):
        response = client.get(DASHBOARD_PATH)
        if response.status_code != 200:
            raise RuntimeError(f"GET {DASHBOARD_PATH} answered {response.status_code}")
    times, sql_times, queries = [], [], 0
    for _ in range(requests):
        with sql_clock() as clock:
            started = time.perf_counter()
            response = client.get(DASHBOARD_PATH)
            elapsed = time.perf_counter() - started
        assert response.status_code == 200
        times.append(elapsed * 1000)
        sql_times.append(clock.seconds * 1000)
        queries = max(queries, clock.statements)
    slowest = sorted(clock.timings, key=lambda t: t[0], reverse=True)[:3]
    return {
        "dashboard_p50_ms": statistics.median(times),
        "dashboard_p95_ms": _p95(times),
        "dashboard_sql_ms": statistics.median(sql_times),
        "dashboard_queries": queries,
        "dashboard_slowest": [{"ms": round(s * 1000, 2), "sql": sql} for s, sql in slowest],
        "dashboard_clients": response.json()["clients"],
    }


def measure_dashboard_between_refreshes(token: str, requests: int, every: int = 200) -> dict:
    """The dashboard request between two refreshes of the kept figures: one investor in
    `every` of the top structure with its stamp emptied, as the payments of the minutes since
    the last refresh leave them (500 of 100,000 at full scale), computed afresh by their ids.
    Timed like `measure_dashboard`, in a transaction rolled back."""
    from clients.models import Investor

    with transaction.atomic():
        structure = Investor.objects.in_structure_of(_top_participant(token))
        emptied = (
            structure.annotate(turn=models.F("pk") % every)
            .filter(turn=0)
            .update(kept_figures_stamp=None)
        )
        timed = measure_dashboard(token, requests)
        transaction.set_rollback(True)
    return {
        "dashboard_between_refreshes_p95_ms": timed["dashboard_p95_ms"],
        "dashboard_between_refreshes_queries": timed["dashboard_queries"],
        "dashboard_between_refreshes_emptied": emptied,
    }


def _top_participant(token: str):
    from clients.models import Investor
    from clients.tokens import token_with_user

    return Investor.objects.get(user=token_with_user(token).user)


def keep_dashboard_figures(token: str) -> dict:
    """The dashboard's figures with nothing kept (`dashboard.kept`: those of tomorrow, for
    which no row is kept, computed in process for the top participant): the request's cost
    before the night's refresh has run. Then the refresh for the day the dashboard request
    reads, timed: on a new portfolio it writes every investor; on one already kept for the
    day it finds nothing to do. A refresh that rewrote most investors is a one-time backfill
    (the first refresh after the upgrade, docs/operations in the README): the investors are
    packed after it (VACUUM FULL), as an operator does after a backfill, so the table read is
    that of a book whose nightly refreshes rewrite only the rows whose figures moved
    (`next_night_refresh` counts them). Otherwise vacuumed, as autovacuum would."""
    from backoffice.lib.dates import business_today
    from clients.models import Investor
    from dashboard.figures import figures
    from dashboard.kept import kept_figures_refresh
    from installments.read_model import kept_amounts_renew

    from .generate import vacuum

    today = business_today()
    root = _top_participant(token)
    started = time.perf_counter()
    figures(root=root, today=today + dt.timedelta(days=1))
    unkept_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    kept_amounts_renew(today=today)  # as the task does first
    kept = kept_figures_refresh(today=today)
    seconds = time.perf_counter() - started
    packed = kept > Investor.objects.count() // 2
    vacuum(("clients_investor",), full=packed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size('clients_investor')")
        heap = cursor.fetchone()[0]
    return {
        "dashboard_unkept_ms": unkept_ms,
        "kept_figures_seconds": seconds,
        "kept_figures_investors": kept,
        "investors_packed": packed,
        "investors_heap_mb": round(heap / 2**20, 1),
    }


def next_night_refresh(token: str, requests: int) -> dict:
    """The next night's refresh of the kept figures, timed and rolled back, as the task runs
    it: the kept overdue amounts that no longer hold renewed, then every investor checked and
    those whose figures moved written, in place (HOT) where the page has room (the kept
    columns are in no index). Then, in the same transaction, the next day's
    figures of the top participant, computed in process `requests` times: the dashboard's
    SQL and Python one night on, on the table as that night's writes leave it (their dead
    rows not yet vacuumed). Run after the request timings, since its writes (even rolled
    back) leave dead rows until the vacuum after it."""
    from backoffice.lib.dates import business_today
    from dashboard.figures import figures
    from dashboard.kept import kept_figures_refresh
    from installments.read_model import kept_amounts_renew

    from .generate import vacuum

    tomorrow = business_today() + dt.timedelta(days=1)
    root = _top_participant(token)
    with transaction.atomic():
        started = time.perf_counter()
        renewed = kept_amounts_renew(today=tomorrow)
        renew_seconds = time.perf_counter() - started
        before = _updates()
        started = time.perf_counter()
        written = kept_figures_refresh(today=tomorrow)
        seconds = time.perf_counter() - started
        updated, hot = (after - then for after, then in zip(_updates(), before, strict=True))
        figures(root=root, today=tomorrow)  # warm-up
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            figures(root=root, today=tomorrow)
            times.append((time.perf_counter() - started) * 1000)
        transaction.set_rollback(True)
    vacuum(("clients_investor",))
    return {
        "kept_amounts_next_night_renewed": renewed,
        "kept_amounts_next_night_seconds": renew_seconds,
        "kept_figures_next_night_seconds": seconds,
        "kept_figures_next_night_written": written,
        "kept_figures_next_night_hot_share": hot / updated if updated else None,
        "dashboard_next_day_figures_p95_ms": _p95(times),
    }


def _updates() -> tuple[int, int]:
    """The investors' rows this transaction has updated so far, and of them in place (HOT)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated('clients_investor'::regclass), "
            "pg_stat_get_xact_tuples_hot_updated('clients_investor'::regclass)"
        )
        return cursor.fetchone()
