"""`api_vs_hello`: gunicorn on a free port, and a small closed-loop load generator.

Both endpoints get the same server (same workers) and the same number of concurrent clients
for the same time; the answer is the ratio of completed requests per second.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2
CONCURRENCY = 4
# The same load, before the measured one, whose answers are not counted.
WARM_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@contextmanager
def gunicorn(env: dict[str, str]):
    """gunicorn serving bench.wsgi (the product plus the benchmark's routes) until the block
    ends; yields its port."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}")
            try:
                if _get(port, "/bench/hello/", {}) == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer within 60 s")
            time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def requests_per_second(
    port: int, path: str, headers: dict[str, str], seconds: float, concurrency: int = CONCURRENCY
) -> float:
    """Closed loop: `concurrency` clients, each sending its next request when the last one
    is answered, for `seconds`, after `WARM_SECONDS` of the same load whose answers are not
    counted (every worker has then compiled and prepared what the path needs: a couple of
    single requests may all land on one worker). Any answer other than 200 fails the
    measurement."""
    status = _get(port, path, headers)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}")
    _closed_loop(port, path, headers, WARM_SECONDS, concurrency)
    done, elapsed = _closed_loop(port, path, headers, seconds, concurrency)
    return done / elapsed


def _closed_loop(
    port: int, path: str, headers: dict[str, str], seconds: float, concurrency: int
) -> tuple[int, float]:
    """The requests answered by `concurrency` clients in `seconds`, and the seconds taken."""
    done = [0] * concurrency
    failures: list[str] = []
    stop = time.perf_counter() + seconds

    def client(slot: int) -> None:
        while time.perf_counter() < stop and not failures:
            try:
                status = _get(port, path, headers)
            except OSError as error:
                failures.append(repr(error))
                return
            if status != 200:
                failures.append(f"GET {path} answered {status}")
                return
            done[slot] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(failures[0])
    return sum(done), elapsed
