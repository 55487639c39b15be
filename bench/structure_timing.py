"""The Structure and dashboard requests timed in process: their latency, and how much of it
is Python (the request's time minus the time its SQL statements take, driver round trips
included)."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from contextlib import contextmanager

from django.db import connection, transaction
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


def keep_dashboard_figures(token: str) -> dict:
    """The night's refresh of the dashboard's kept figures (`dashboard.kept`), timed from
    nothing kept, for the day the dashboard request reads; and one dashboard request before
    it, when every figure is computed afresh (the request's cost before the night's job has
    run, or on a day nothing was kept). The investors are vacuumed after, as autovacuum does
    after a rewrite of most of a table, so the reads that can be index-only are."""
    from backoffice.lib.dates import business_today
    from clients.models import Investor
    from dashboard.kept import kept_figures_refresh, stamp

    from .generate import vacuum

    Investor.objects.filter(kept_figures_stamp__isnull=False).update(kept_figures_stamp=None)
    vacuum(("clients_investor",))
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    started = time.perf_counter()
    response = client.get(DASHBOARD_PATH)
    unkept_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {DASHBOARD_PATH} answered {response.status_code}")
    today = business_today()
    started = time.perf_counter()
    kept = kept_figures_refresh(today=today)
    seconds = time.perf_counter() - started
    # The next night's refresh, rolled back: it rewrites only the rows whose figures change.
    tomorrow = today + dt.timedelta(days=1)
    with transaction.atomic():
        started = time.perf_counter()
        checked = kept_figures_refresh(today=tomorrow)
        next_seconds = time.perf_counter() - started
        rewritten = Investor.objects.filter(kept_figures_stamp=stamp(tomorrow)).count()
        transaction.set_rollback(True)
    vacuum(("clients_investor",))
    return {
        "dashboard_unkept_ms": unkept_ms,
        "kept_figures_seconds": seconds,
        "kept_figures_investors": kept,
        "kept_figures_next_night_seconds": next_seconds,
        "kept_figures_next_night_checked": checked,
        "kept_figures_next_night_rewritten": rewritten,
    }
