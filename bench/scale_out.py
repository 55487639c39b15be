"""The scan scaled out: the product's nightly scan with 1, 2, 4 … worker processes taking its
chunks from Redis, and the wall time of each.

Each run works on a fresh copy of the portfolio (`CREATE DATABASE … TEMPLATE`), since the
scan commits its cancellations and its rows from several processes at once and cannot be
rolled back; the copy is dropped after the run. In the copy:

1. N workers start (`bench.workers`: prefork, one process each) on the benchmark's Redis
   database. The delivery messages the chunks hand over go to a queue no worker reads
   (`BENCH_HOLD_DELIVERIES`, bench.settings), so what is timed is the scan: cancellations,
   the candidates, the chunks' reminder rows written and their ids handed to the broker.
2. `reminders.scan.scan` runs here, as beat would run it, at noon of the portfolio's day;
   its chunks are published after its commit and the workers run them.
3. The wall time runs until the last chunk closes the run. Meanwhile `pg_stat_activity`
   is sampled every 20 ms (backends waiting on a lock, and which lock), and the CPU of the
   workers and of the PostgreSQL backends is read from /proc before and after.

`python -m bench scale-out --database SOURCE` runs it on any portfolio (never writing to
SOURCE except last night's scan record, which the measure step writes too); `make bench
SCALE=small` runs it on the small portfolio with 1, 2 and 4 workers.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time

import psycopg2

logger = logging.getLogger("bench")
HELD_QUEUE = "bench-held-deliveries"
COPY_RETRIES = 30


# ---------------------------------------------------------------------------- the orchestrator


def copy_database(server: str, source: str, target: str) -> None:
    """CREATE DATABASE target TEMPLATE source, retried while another session still holds
    a connection to the source (PostgreSQL refuses to copy it then)."""
    from .run import _admin

    for attempt in range(COPY_RETRIES):
        admin = _admin(server)
        try:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{target}"')
                cursor.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
                return
        except psycopg2.errors.ObjectInUse:
            if attempt == COPY_RETRIES - 1:
                raise
            time.sleep(2)
        finally:
            admin.close()


def measure(
    server: str, source: str, workers: tuple[int, ...], *, runs: int = 1, keep_going=None
) -> dict:
    """Wall time of the scan with each number of workers (the median of `runs`), each on
    a fresh copy of `source`."""
    from .run import _step, drop

    copy = f"{source}_scaleout"
    _step(server, source, "last-night")
    results: dict[str, list[dict]] = {}
    try:
        for count in workers:
            for _ in range(runs):
                copy_database(server, source, copy)
                measured = _step(server, copy, "scan-workers", "--workers", str(count))
                logger.info("scan with %d worker(s): %.2f s", count, measured["wall_seconds"])
                results.setdefault(str(count), []).append(measured)
    finally:
        drop(server, copy)
    summary = {
        count: {
            "wall_seconds": statistics.median(r["wall_seconds"] for r in measured),
            "wall_seconds_runs": [round(r["wall_seconds"], 3) for r in measured],
            **{k: v for k, v in measured[-1].items() if k != "wall_seconds"},
        }
        for count, measured in results.items()
    }
    first = summary[str(workers[0])]["wall_seconds"]
    for entry in summary.values():
        entry["speed_up"] = first / entry["wall_seconds"]
    return summary


def lines(summary: dict) -> list[str]:
    """The report's lines: one per number of workers."""
    out = []
    for count, entry in summary.items():
        chunk = entry["chunk_seconds"]
        out.append(
            f"scan with {count} worker(s): {entry['wall_seconds']:.2f} s wall "
            f"(×{entry['speed_up']:.2f}; in-process part {entry['serial_seconds']:.2f} s), "
            f"{entry['chunks']} chunks of {entry['chunk_size']} plans, "
            f"{entry['reminders_written']} rows; per chunk median {chunk['median']:.3f} s, "
            f"max {chunk['max']:.3f} s; worker CPU {entry['worker_cpu_seconds']} s, "
            f"PostgreSQL CPU {entry['backend_cpu_seconds']:.2f} s; lock waits "
            f"{entry['lock_wait_seconds']:.2f} s {entry['lock_waits']}"
        )
    return out


# ---------------------------------------------------------------------------- inside Django


class _Sampler:
    """Samples pg_stat_activity of this database on its own connection: the backends'
    pids (for their CPU) and who waits on a lock."""

    def __init__(self, dsn: str, every: float = 0.02):
        self.dsn = dsn
        self.every = every
        self.pids: set[int] = set()
        self.lock_samples: dict[str, int] = {}
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        connection = psycopg2.connect(self.dsn)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                own = cursor.fetchone()[0]
                while not self.stop.is_set():
                    cursor.execute(
                        "SELECT pid, wait_event_type, wait_event FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> %s",
                        [own],
                    )
                    self.samples += 1
                    for pid, wait_type, wait_event in cursor.fetchall():
                        self.pids.add(pid)
                        if wait_type == "Lock":
                            self.lock_samples[wait_event] = self.lock_samples.get(wait_event, 0) + 1
                    self.stop.wait(self.every)
        finally:
            connection.close()

    def __enter__(self) -> _Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def _dsn() -> str:
    from django.db import connection

    db = connection.settings_dict
    dsn = f"dbname={db['NAME']} user={db['USER']} host={db['HOST'] or '127.0.0.1'} "
    dsn += f"port={db['PORT'] or 5432}"
    return dsn + (f" password={db['PASSWORD']}" if db["PASSWORD"] else "")


def _timed_scan(pool, *, scan_date, timeout: float) -> dict:
    """The scan from its start to the last chunk closing its run, sampled meanwhile."""
    from reminders.models import ScanRun
    from reminders.scan import scan

    from . import workers
    from .measure import scan_moment

    cpu_before = pool.cpu_seconds()
    with _Sampler(_dsn()) as sampler:
        backend_before = workers.backend_cpu_seconds(sorted(sampler.pids))
        started = time.perf_counter()
        report = scan(scan_date=scan_date, now=scan_moment(scan_date), trigger="bench")
        serial = time.perf_counter() - started
        deadline = started + timeout
        while not ScanRun.objects.filter(pk=report.run.pk, finished_at__isnull=False).exists():
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the scan took over {timeout:.0f} s")
            time.sleep(0.02)
        wall = time.perf_counter() - started
        time.sleep(0.1)  # one more sample after the end, for the pids
    return {
        "run": report.run,
        "wall_seconds": wall,
        "serial_seconds": serial,
        # Backends that connected during the run count from 0 (a new connection).
        "backend_cpu_seconds": workers.backend_cpu_seconds(sorted(sampler.pids)) - backend_before,
        "worker_cpu_seconds": [
            round(after - before, 2)
            for after, before in zip(pool.cpu_seconds(), cpu_before, strict=True)
        ],
        "lock_wait_seconds": sum(sampler.lock_samples.values()) * sampler.every,
        "lock_waits": sampler.lock_samples,
        "samples": sampler.samples,
        "chunk_seconds": pool.task_seconds("reminders.run_scan_chunk"),
    }


def scan_with_workers(*, count: int, timeout: float = 1800) -> dict:
    """Run tonight's scan of this portfolio with `count` workers taking its chunks."""
    import datetime as dt
    import os

    import redis
    from celery import current_app
    from django.conf import settings
    from django.db import connection

    from reminders.models import Reminder, ScanChunk

    from . import workers
    from .steps import _meta

    scan_date = dt.date.fromisoformat(_meta("portfolio")["today"])
    broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    broker.flushdb()
    # This process hands over too (a chunk run here if the broker fails).
    current_app.conf.task_routes = {"reminders.deliver_batch": {"queue": HELD_QUEUE}}
    env = {"BENCH_HOLD_DELIVERIES": "1", "CONN_MAX_AGE": "600"}
    try:
        with workers.running(count, env, name="scan") as pool:
            result = _timed_scan(pool, scan_date=scan_date, timeout=timeout)
    finally:
        broker.flushdb()
    run = result.pop("run")
    run.refresh_from_db()
    if run.errors:
        raise RuntimeError(f"the scan with {count} worker(s) failed: {run.errors}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('reminders_reminder')")
        outbox_bytes = cursor.fetchone()[0]
    chunk_seconds = result.pop("chunk_seconds")
    return {
        **result,
        "workers": count,
        "plans_cancelled": run.plans_cancelled,
        "chunks": ScanChunk.objects.filter(run=run).count(),
        "chunk_size": settings.REMINDER_CHUNK_SIZE,
        "reminders_written": Reminder.objects.filter(scan_run=run).count(),
        "outbox_bytes": outbox_bytes,
        "chunk_seconds": {
            "count": len(chunk_seconds),
            "median": statistics.median(chunk_seconds) if chunk_seconds else 0.0,
            "max": max(chunk_seconds, default=0.0),
            "sum": round(sum(chunk_seconds), 3),
        },
    }
