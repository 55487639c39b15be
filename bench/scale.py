"""The sizes of the benchmark portfolio."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    investors: int
    plans: int
    # The top participant's downline (the Structure measured) and the depth it reaches at least.
    structure: int
    spine: int
    # The Structure page requested: page 50 needs at least 981 overdue clients.
    page: int
    # Timed repetitions: scan runs (median), Structure requests (p50/p95), load seconds.
    scan_runs: int
    structure_requests: int
    # The dashboard request's repeats (at full scale it takes seconds: fewer).
    dashboard_requests: int
    load_seconds: float
    # The per-plan ORM loop is timed on at most this many active plans, then extrapolated.
    naive_sample: int
    # Delivery throughput: reminders sent per timed run, and runs per number of workers.
    delivery_rows: int
    delivery_runs: int
    # The scan scaled out: worker processes to time it with.
    scale_out_workers: tuple[int, ...]


SCALES = {
    "full": Scale(
        name="full",
        investors=200_000,
        plans=1_000_000,
        structure=100_000,
        spine=64,
        page=50,
        scan_runs=3,
        structure_requests=40,
        dashboard_requests=40,
        load_seconds=20,
        naive_sample=20_000,
        delivery_rows=1_000,
        delivery_runs=3,
        # Slow (a fresh copy of the database per run): `python -m bench scale-out`.
        scale_out_workers=(),
    ),
    # 1/50 of full, except a larger share of investors in the top structure so that page 50
    # of its overdue clients exists.
    "small": Scale(
        name="small",
        investors=4_000,
        plans=20_000,
        structure=3_000,
        spine=64,
        page=50,
        scan_runs=3,
        structure_requests=40,
        dashboard_requests=40,
        load_seconds=8,
        naive_sample=20_000,
        delivery_rows=600,
        delivery_runs=2,
        scale_out_workers=(1, 2, 4),
    ),
    # For the test suite: every state present, seconds to build.
    "tiny": Scale(
        name="tiny",
        investors=240,
        plans=900,
        structure=150,
        spine=62,
        page=1,
        scan_runs=1,
        structure_requests=3,
        dashboard_requests=3,
        load_seconds=0.5,
        naive_sample=20_000,
        delivery_rows=40,
        delivery_runs=1,
        scale_out_workers=(1, 2),
    ),
}

# The "10x" dataset: this many times the rows of the tables the scan and the Structure read.
SIZE_FACTOR = 10
