"""The orchestrator: prepares the two databases, runs each measurement in its own process
(one database per Django process), serves the API under gunicorn, and writes the results.

The base database is kept between runs and reused while its scale and generator version
match (`--regenerate` forces a new portfolio); the 10x database is a copy of it
(CREATE DATABASE … TEMPLATE) grown with inert history, rebuilt whenever the base changes.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2

from . import load, scale_out
from .endpoints import DASHBOARD_PATH, HELLO_PATH, structure_url
from .scale import SCALES, SIZE_FACTOR

logger = logging.getLogger("bench")
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"

KEYS = (
    "scan_seconds",
    "scan_floor_seconds",
    "scan_vs_floor",
    "scan_size_ratio",
    "rescan_seconds",
    "naive_vs_scan",
    "reminders_per_second",
    "structure_p50_ms",
    "structure_p95_ms",
    "structure_sql_ms",
    "structure_python_share",
    "structure_size_ratio",
    "structure_queries",
    "api_vs_hello",
    "dashboard_p95_ms",
    "dashboard_queries",
    "delivery_per_second_1",
    "delivery_per_second_2",
    "delivery_scaling",
)
TARGETS = {
    "scan_vs_floor": ("≤", 1.5),
    "scan_size_ratio": ("≤", 1.3),
    "rescan_seconds": ("≤", 1.0),
    "naive_vs_scan": ("≥", 100),
    "reminders_per_second": ("≥", 10_000),
    "structure_p95_ms": ("≤", 50),
    "structure_python_share": ("≤", 0.5),
    "structure_size_ratio": ("≤", 1.2),
    "structure_queries": ("≤", 6),
    "api_vs_hello": ("≥", 0.3),
    "dashboard_p95_ms": ("≤", 100),
    "delivery_scaling": ("≥", 1.8),
}


# ---------------------------------------------------------------------------- databases


def _admin(server: str):
    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True
    return connection


def _exists(server: str, name: str) -> bool:
    with _admin(server) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


def _create(server: str, name: str, template: str | None = None) -> None:
    admin = _admin(server)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            suffix = f' TEMPLATE "{template}"' if template else ""
            cursor.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        admin.close()


def drop(server: str, name: str) -> None:
    admin = _admin(server)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        admin.close()


def _grown_from(server: str, name: str) -> str | None:
    if not _exists(server, name):
        return None
    connection = psycopg2.connect(f"{server}/{name}")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('bench_meta')")
            if cursor.fetchone()[0] is None:
                return None
            cursor.execute("SELECT value->>'from' FROM bench_meta WHERE key = 'grown'")
            row = cursor.fetchone()
            return row[0] if row else None
    finally:
        connection.close()


# ---------------------------------------------------------------------------- steps


def _env(server: str, database: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"{server}/{database}",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret",
        "DEBUG": "false",
        "CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        # The benchmark's own Redis database: reminders_per_second publishes there and
        # empties it; nothing else of the product's is on it.
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/6"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }


def _step(server: str, database: str, *args: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [sys.executable, "-m", "bench", *args, "--out", out.name],
            cwd=ROOT,
            env={**os.environ, **_env(server, database)},
            check=True,
        )
        return json.loads(Path(out.name).read_text())


# ---------------------------------------------------------------------------- the run


def run(
    *,
    scale_name: str,
    server: str = DEFAULT_SERVER,
    database: str | None = None,
    regenerate: bool = False,
    keep_size_copy: bool = True,
    out: Path = ROOT / "bench" / "last.json",
) -> dict:
    scale = SCALES[scale_name]
    base = database or f"backoffice_bench_{scale_name}"
    tenfold = f"{base}_x{SIZE_FACTOR}"
    if not _exists(server, base):
        _create(server, base)
    portfolio = _step(
        server, base, "prepare", "--scale", scale_name, *(["--regenerate"] if regenerate else [])
    )
    if _grown_from(server, tenfold) != portfolio["generated_at"]:
        logger.info("copying %s to %s", base, tenfold)
        _create(server, tenfold, template=base)
        grown = _step(server, tenfold, "grow", "--factor", str(SIZE_FACTOR))
    else:
        grown = {"reused": True}
    logger.info("measuring %s", base)
    at_base = _step(server, base, "measure", "--scale", scale_name, "--naive", "--explain")
    logger.info("measuring %s", tenfold)
    at_tenfold = _step(server, tenfold, "measure", "--scale", scale_name)
    logger.info("timing delivery on %s", base)
    at_base.update(_step(server, base, "delivery", "--scale", scale_name))
    if not keep_size_copy:
        drop(server, tenfold)

    logger.info("serving %s under gunicorn", base)
    auth = {"Authorization": f"Token {portfolio['top_token']}"}
    with load.gunicorn(_env(server, base)) as port:
        hello_rps = load.requests_per_second(port, HELLO_PATH, {}, scale.load_seconds)
        structure_rps = load.requests_per_second(
            port, structure_url(scale.page), auth, scale.load_seconds
        )

    # Last: it copies the base database, which no other process may hold open then.
    scaled_out = (
        scale_out.measure(server, base, scale.scale_out_workers) if scale.scale_out_workers else {}
    )

    loads = {"structure": structure_rps, "hello": hello_rps}
    figures = _figures(at_base, at_tenfold, loads)
    details = {
        "scale": scale_name,
        "databases": {base: at_base["database_size"], tenfold: at_tenfold["database_size"]},
        "portfolio": {k: v for k, v in portfolio.items() if k != "top_token"},
        "grown": grown,
        **_measured_details(at_base, at_tenfold, loads, scale.page),
        "scale_out": scaled_out,
        "machine": machine(server),
    }
    write(out, figures, details, at_base.get("explain", {}))
    return figures


def _figures(at_base: dict, at_tenfold: dict, loads: dict) -> dict:
    figures = {
        "scan_seconds": at_base["scan_seconds"],
        "scan_floor_seconds": at_base["scan_floor_seconds"],
        "scan_vs_floor": at_base["scan_seconds"] / at_base["scan_floor_seconds"],
        "scan_size_ratio": at_tenfold["scan_seconds"] / at_base["scan_seconds"],
        "rescan_seconds": at_base["rescan_seconds"],
        "naive_vs_scan": at_base["naive_seconds"] / at_base["scan_seconds"],
        "reminders_per_second": at_base["reminders_per_second"],
        "structure_p50_ms": at_base["structure_p50_ms"],
        "structure_p95_ms": at_base["structure_p95_ms"],
        "structure_sql_ms": at_base["structure_sql_ms"],
        "structure_python_share": at_base["structure_python_share"],
        "structure_size_ratio": at_tenfold["structure_p95_ms"] / at_base["structure_p95_ms"],
        "structure_queries": at_base["structure_queries"],
        "api_vs_hello": loads["structure"] / loads["hello"],
        "dashboard_p95_ms": at_base["dashboard_p95_ms"],
        "dashboard_queries": at_base["dashboard_queries"],
        "delivery_per_second_1": at_base["delivery_per_second_1"],
        "delivery_per_second_2": at_base["delivery_per_second_2"],
        "delivery_scaling": at_base["delivery_scaling"],
    }
    return {key: _round(figures[key]) for key in KEYS}


def _measured_details(at_base: dict, at_tenfold: dict, loads: dict, page: int) -> dict:
    return {
        "scan": {
            "plans_cancelled": at_base["plans_cancelled"],
            "reminders_written": at_base["reminders_written"],
            "reminders_written_at_10x": at_tenfold["reminders_written"],
            "plans_cancelled_at_10x": at_tenfold["plans_cancelled"],
            "scan_seconds_at_10x": at_tenfold["scan_seconds"],
            "rescan_rows_written": at_base["rescan_rows_written"],
            "rescan_bookkeeping_rows": at_base["rescan_bookkeeping_rows"],
            "rescan_plans_cancelled": at_base["rescan_plans_cancelled"],
        },
        "naive": {k: v for k, v in at_base.items() if k.startswith("naive_")},
        "reminders": {
            "queued": at_base["reminders_queued"],
            "seconds": at_base["reminders_seconds"],
            "first_run_seconds": at_base["reminders_first_seconds"],
            "broker_messages": at_base["reminders_messages"],
        },
        "structure": {
            "path": structure_url(page),
            "overdue_clients": at_base["structure_count"],
            "p95_ms_at_10x": at_tenfold["structure_p95_ms"],
            "requests_per_second": loads["structure"],
            "hello_requests_per_second": loads["hello"],
            "gunicorn_workers": load.WORKERS,
            "concurrency": load.CONCURRENCY,
        },
        "delivery": {
            key[len("delivery_") :]: at_base[key]
            for key in ("delivery_rows", "delivery_runs", "delivery_most_in_flight")
        }
        | {"gateway_latency_ms": at_base["delivery_gateway_latency_ms"]},
        "dashboard": {
            "path": DASHBOARD_PATH,
            "clients": at_base["dashboard_clients"],
            "p50_ms": at_base["dashboard_p50_ms"],
            "sql_ms": at_base["dashboard_sql_ms"],
            "p95_ms_at_10x": at_tenfold["dashboard_p95_ms"],
            "slowest_statements": at_base["dashboard_slowest"],
            # Before the night's refresh of the kept figures: every figure computed afresh.
            "unkept_ms": at_base["dashboard_unkept_ms"],
            "kept_figures_seconds": at_base["kept_figures_seconds"],
            "kept_figures_investors": at_base["kept_figures_investors"],
            "kept_figures_next_night_seconds": at_base["kept_figures_next_night_seconds"],
            "between_refreshes_p95_ms": at_base["dashboard_between_refreshes_p95_ms"],
            "between_refreshes_queries": at_base["dashboard_between_refreshes_queries"],
            "between_refreshes_emptied": at_base["dashboard_between_refreshes_emptied"],
            "kept_amounts_next_night_renewed": at_base["kept_amounts_next_night_renewed"],
            "kept_amounts_next_night_seconds": at_base["kept_amounts_next_night_seconds"],
            "kept_figures_next_night_written": at_base["kept_figures_next_night_written"],
            "next_day_figures_p95_ms": at_base["dashboard_next_day_figures_p95_ms"],
            "kept_figures_next_night_hot_share": at_base["kept_figures_next_night_hot_share"],
            "investors_packed": at_base["investors_packed"],
            "investors_heap_mb": at_base["investors_heap_mb"],
        },
    }


def _share(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def _round(value):
    if isinstance(value, float):
        return round(value, 4 if value < 10 else 1)
    return value


def machine(server: str) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    with _admin(server) as admin, admin.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        buffers = cursor.fetchone()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": version,
        "shared_buffers": buffers,
    }


# ---------------------------------------------------------------------------- output


def table(figures: dict, details: dict) -> str:
    lines = [f"{'measure':<22} {'value':>12}  {'target':<10} met", "-" * 52]
    for key in KEYS:
        value = figures[key]
        shown = "pending" if value is None else f"{value:g}"
        target, met = "", ""
        if key in TARGETS:
            sign, limit = TARGETS[key]
            target = f"{sign} {limit:g}"
            if value is None:
                met = "-"
            else:
                ok = value <= limit if sign == "≤" else value >= limit
                if key == "rescan_seconds":
                    ok = ok and details["scan"]["rescan_rows_written"] == 0
                met = "yes" if ok else "NO"
        lines.append(f"{key:<22} {shown:>12}  {target:<10} {met}")
    scan, naive, structure = details["scan"], details["naive"], details["structure"]
    lines += [
        "",
        f"scale {details['scale']}: {json.dumps(details['portfolio']['counts'])}",
        f"top structure: {details['portfolio']['structure_size']} clients, "
        f"{details['portfolio']['structure_depth']} levels; "
        f"{structure['overdue_clients']} overdue; {structure['path']}",
        f"scan: {scan['plans_cancelled']} plans cancelled, {scan['reminders_written']} "
        f"reminders written (10x: {scan['plans_cancelled_at_10x']} and "
        f"{scan['reminders_written_at_10x']} in {scan['scan_seconds_at_10x']:.4f} s); "
        f"rescan wrote {scan['rescan_rows_written']} rows, "
        f"cancelled {scan['rescan_plans_cancelled']} "
        f"(and recorded its run: {scan['rescan_bookkeeping_rows']} rows of scan bookkeeping)",
        "naive loop: "
        + (
            f"timed on {naive['naive_plans_looped']} of {naive['naive_plans_active']} active "
            f"plans ({naive['naive_measured_seconds']:.1f} s), extrapolated linearly to "
            f"{naive['naive_seconds']:.1f} s"
            if naive["naive_extrapolated"]
            else f"all {naive['naive_plans_active']} active plans in "
            f"{naive['naive_seconds']:.1f} s, {naive['naive_plans_cancelled']} cancelled"
        ),
        f"structure p95 at 10x: {structure['p95_ms_at_10x']:.1f} ms",
        f"dashboard: {details['dashboard']['path']} for {details['dashboard']['clients']} "
        f"clients, p50 {details['dashboard']['p50_ms']:.1f} ms, SQL "
        f"{details['dashboard']['sql_ms']:.1f} ms; p95 at 10x "
        f"{details['dashboard']['p95_ms_at_10x']:.1f} ms; before the night's refresh of the "
        f"kept figures {details['dashboard']['unkept_ms']:.1f} ms; between two refreshes "
        f"({details['dashboard']['between_refreshes_emptied']} rows emptied) p95 "
        f"{details['dashboard']['between_refreshes_p95_ms']:.1f} ms; the refresh "
        f"{details['dashboard']['kept_figures_seconds']:.1f} s for "
        f"{details['dashboard']['kept_figures_investors']} investors; the next night's "
        f"{details['dashboard']['kept_amounts_next_night_renewed']} overdue amounts renewed in "
        f"{details['dashboard']['kept_amounts_next_night_seconds']:.1f} s and figures in "
        f"{details['dashboard']['kept_figures_next_night_seconds']:.1f} s, "
        f"{details['dashboard']['kept_figures_next_night_written']} rows written, "
        f"{_share(details['dashboard']['kept_figures_next_night_hot_share'])} of them in place, "
        f"then the next day's figures in process p95 "
        f"{details['dashboard']['next_day_figures_p95_ms']:.1f} ms; "
        f"the investors' heap {details['dashboard']['investors_heap_mb']} MB"
        + (" (packed after the first refresh)" if details["dashboard"]["investors_packed"] else ""),
        f"api: {structure['requests_per_second']:.1f} req/s vs hello "
        f"{structure['hello_requests_per_second']:.1f} req/s "
        f"({structure['gunicorn_workers']} gunicorn workers, "
        f"{structure['concurrency']} concurrent clients)",
        f"reminders: {details['reminders']['queued']} rows written and handed to the broker "
        f"in {details['reminders']['broker_messages']} messages, "
        f"{details['reminders']['seconds']:.3f} s (median; the first run, the first publish "
        f"in its process, {details['reminders']['first_run_seconds']:.3f} s)",
        *_workers_lines(details),
        f"databases: {details['databases']}",
        f"machine: {json.dumps(details['machine'])}",
    ]
    return "\n".join(lines)


def _workers_lines(details: dict) -> list[str]:
    delivery = details["delivery"]
    return [
        f"delivery: {delivery['rows']} SMS reminders to a fake gateway "
        f"({delivery['gateway_latency_ms']:g} ms a request), seconds per run by "
        f"workers {json.dumps(delivery['runs'])}",
        *(
            scale_out.lines(details["scale_out"])
            if details.get("scale_out")
            else ["scan scaled out: not at this scale (python -m bench scale-out)"]
        ),
    ]


def write(out: Path, figures: dict, details: dict, plans: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    report = table(figures, details)
    out.with_name(out.stem + "-report.txt").write_text(
        report + "\n\n" + json.dumps(details, indent=2, default=str) + "\n"
    )
    out.with_name(out.stem + "-explain.txt").write_text(
        "".join(f"=== {name}\n{plan}\n\n" for name, plan in plans.items())
    )
    print(report)
