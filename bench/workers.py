"""Real Celery workers for the measurements that need them (delivery throughput, the scan
scaled out): worker processes on the benchmark's own Redis database and the measured
database, started before the work is handed over and stopped after it.

Each worker is `celery worker --pool=prefork --concurrency=1` (a parent that fetches and a
child that runs the task, as in production with one process per core), in its own process
group, its log in a temporary directory (read for the tasks' run times).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 90

# "Task reminders.run_scan_chunk[…] succeeded in 0.52s: 123"
_SUCCEEDED = re.compile(r"Task (\S+)\[[^\]]+\] succeeded in ([0-9.]+)s")


class Workers:
    def __init__(self, processes: list[subprocess.Popen], logs: list[Path]):
        self.processes = processes
        self.logs = logs

    def task_seconds(self, task: str) -> list[float]:
        """The run time of every `task` the workers finished, as their logs report it."""
        seconds = []
        for log in self.logs:
            for name, value in _SUCCEEDED.findall(log.read_text(errors="replace")):
                if name == task:
                    seconds.append(float(value))
        return seconds

    def cpu_seconds(self) -> list[float]:
        """CPU (user + system) used so far by each worker, its pool's child included."""
        return [_group_cpu(process.pid) for process in self.processes]


def _group_cpu(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            # fields[2] is the process group (pgrp); 11 and 12 are utime and stime.
            if int(fields[2]) == pid:
                total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def backend_cpu_seconds(pids: list[int]) -> float:
    """CPU used so far by these processes (PostgreSQL backends, read from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


@contextmanager
def running(count: int, env: dict[str, str], *, name: str = "bench"):
    """`count` worker processes with `env` (DATABASE_URL, CELERY_BROKER_URL, …) until the
    block ends; waits until each says it is ready."""
    directory = Path(tempfile.mkdtemp(prefix=f"{name}-workers-"))
    processes: list[subprocess.Popen] = []
    logs: list[Path] = []
    try:
        for number in range(1, count + 1):
            log = directory / f"w{number}.log"
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "backoffice",
                        "worker",
                        "--pool=prefork",
                        "--concurrency=1",
                        "--without-heartbeat",
                        "--without-gossip",
                        "--without-mingle",
                        "--loglevel=INFO",
                        "-n",
                        f"{name}{number}@%h",
                    ],
                    cwd=ROOT,
                    env={**os.environ, **env},
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + READY_SECONDS
        for process, log in zip(processes, logs, strict=True):
            while "ready." not in log.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a worker did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
        yield Workers(processes, logs)
    finally:
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
