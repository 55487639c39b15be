import datetime as dt

import pytest
import time_machine
from django.conf import settings as django_settings

from reminders.channels import LocmemBackend
from reminders.scan import scan


@pytest.fixture(autouse=True)
def _reminder_settings(settings):
    """SMS and messenger into a list, no quiet hours unless a test sets them."""
    settings.SMS_BACKEND = "reminders.channels.LocmemBackend"
    settings.MESSENGER_BACKEND = "reminders.channels.LocmemBackend"
    settings.REMINDER_QUIET_HOURS = ""
    LocmemBackend.outbox.clear()
    yield
    LocmemBackend.outbox.clear()


def business_moment(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(
        day.year, day.month, day.day, hour, minute, tzinfo=django_settings.BUSINESS_TIME_ZONE
    )


@pytest.fixture
def run_scan(django_capture_on_commit_callbacks):
    """Run the scan of `day` at `hour` business time, with the clock there, and let every
    on-commit hand-over run (tasks are eager: no broker in tests)."""

    def run(day: dt.date, hour: int = 12, **kwargs):
        now = business_moment(day, hour)
        with (
            time_machine.travel(now, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return scan(scan_date=day, now=now, **kwargs)

    return run


@pytest.fixture
def at():
    """Run a callable with the clock at `day` `hour` business time."""

    def call(day: dt.date, fn, hour: int = 12):
        with time_machine.travel(business_moment(day, hour), tick=False):
            return fn()

    return call


# ---------------------------------------------------------------------------- real services
#
# The integration tests start real Celery worker processes against a real Redis (the db
# number below, default 3) and the PostgreSQL test database. Without Redis they skip on a
# laptop; with CI=true they fail instead (never skip silently).

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

CI = os.environ.get("CI", "").lower() == "true"
TEST_BROKER_URL = os.environ.get("REMINDERS_TEST_BROKER_URL", "redis://127.0.0.1:6379/3")
ROOT = Path(__file__).resolve().parents[2]


def _redis_client():
    import redis

    return redis.Redis.from_url(TEST_BROKER_URL, socket_connect_timeout=2)


@pytest.fixture
def redis_broker():
    """The test broker, emptied. Skips without Redis on a laptop; fails in CI."""
    try:
        client = _redis_client()
        client.ping()
    except Exception as error:
        message = f"needs Redis at {TEST_BROKER_URL}: {error}"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    client.flushdb()  # this database number is the tests' own
    yield TEST_BROKER_URL
    client.flushdb()


@pytest.fixture
def publish_to_broker(redis_broker):
    """This process publishes to the test broker instead of running tasks in-process."""
    from backoffice.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager

    def point_at(url: str) -> None:
        app.conf.broker_url = url

    app.conf.broker_url = redis_broker
    app.conf.task_always_eager = False
    yield point_at
    app.conf.broker_url, app.conf.task_always_eager = saved


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    user = quote(db["USER"] or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Workers:
    """Celery worker processes started by a test, stopped when it ends."""

    def __init__(self, tmp_path: Path, broker: str):
        self.tmp_path = tmp_path
        self.broker = broker
        self.mail_dir = tmp_path / "mail"
        self.mail_dir.mkdir()
        self.processes: list[subprocess.Popen] = []

    def env(self, **extra) -> dict:
        return {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": self.broker,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "SECRET_KEY": "worker-test-key",
            "DEBUG": "false",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.mail_dir),
            "REMINDER_QUIET_HOURS": "",
            "REMINDER_CLAIM_SECONDS": "3",
            "REMINDER_REDISPATCH_AFTER_SECONDS": "2",
            "LOG_LEVEL": "INFO",
            **extra,
        }

    def start(self, name: str = "w1", *, pool: str = "solo", **extra) -> subprocess.Popen:
        """A worker named `name`; `pool="prefork"` starts a parent and two child processes,
        as in production. Each worker is its own process group, killed whole by `kill`."""
        log = self.tmp_path / f"{name}.log"
        concurrency = ["--concurrency=2"] if pool == "prefork" else []
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "backoffice",
                "worker",
                f"--pool={pool}",
                *concurrency,
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=self.env(**extra),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "ready." in log.read_text():
                return process
            if process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"worker {name} did not start:\n{log.read_text()[-3000:]}")

    def kill(self, process: subprocess.Popen) -> None:
        """kill -9 the worker and its pool's children at once."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def delivered(self) -> dict[str, int]:
        """How many times each reminder reached the email backend, by its reference."""
        import re

        counts: dict[str, int] = {}
        for path in self.mail_dir.iterdir():
            for reference in re.findall(r"^X-Reminder: (\S+)$", path.read_text(), re.MULTILINE):
                counts[reference] = counts.get(reference, 0) + 1
        return counts


def seed_defaults() -> None:
    """The cadence and texts of the data migration. A transactional test's flush empties
    every table, migration-seeded rows included; seeding is idempotent. Written with today's
    models: the migration's own function names the models as they were then."""
    import importlib

    from reminders.models import CadenceStep, MessageTemplate

    seeded = importlib.import_module("reminders.migrations.0002_default_cadence_texts_and_schedule")
    for code, name, trigger, offset, recipient, email, sms, texts in seeded.LEVELS:
        step, _ = CadenceStep.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "trigger": trigger,
                "offset_days": offset,
                "recipient": recipient,
                "by_email": email,
                "by_sms": sms,
                "by_messenger": False,
            },
        )
        for language, (subject, body, short) in texts.items():
            MessageTemplate.objects.get_or_create(
                step=step,
                language=language,
                defaults={"subject": subject, "body": body, "short_text": short},
            )


@pytest.fixture
def workers(transactional_db, redis_broker, tmp_path):
    seed_defaults()
    pool = Workers(tmp_path, redis_broker)
    yield pool
    pool.stop_all()


# ---------------------------------------------------------------------------- fault injection
#
# The fault trials (test_faults.py) pause, restart and kill things, so each starts its own
# Redis on a free port (never the shared one) and its own workers on the PostgreSQL test
# database, and records a row of the fault table, printed at the end of the run and written to
# test-artifacts/faults.txt.


class OwnRedis:
    """A redis-server on a free port, for one test: paused, resumed, restarted at will. No
    persistence: a restart loses every message in it, as a crash without AOF would."""

    def __init__(self, tmp_path: Path):
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = tmp_path / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        import redis

        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--save", "", "--appendonly", "no"],
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server on {self.port} did not start:\n{self.log.read_text()}")

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)

    def queued(self) -> int:
        """Messages waiting for a worker. (A killed worker's unacknowledged message stays in
        `unacked` until the visibility timeout; the rows, not the message, are the truth.)"""
        import redis

        return redis.Redis(port=self.port, socket_timeout=2).llen("celery")


@pytest.fixture
def own_redis(tmp_path):
    import shutil

    if shutil.which("redis-server") is None:
        message = "needs the redis-server binary to start a broker of its own"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def fault_workers(transactional_db, own_redis, tmp_path, monkeypatch):
    """Prefork workers on this test's own Redis; this process publishes there too."""
    from backoffice.celery import app
    from reminders import broker

    seed_defaults()
    # A broker that failed is tried again a second later (30 s in production).
    monkeypatch.setattr(broker, "RECHECK_AFTER", 1.0, raising=False)
    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = own_redis.url, False
    pool = Workers(tmp_path, own_redis.url)
    yield pool
    pool.stop_all()
    app.conf.broker_url, app.conf.task_always_eager = saved
    broker_pools_closed(app)  # no connection to this test's broker outlives it


def broker_pools_closed(app) -> None:
    """Close every broker connection and forget the pools, so that the next publish opens a
    pool on the broker the settings name again, as Celery does after a fork.

    kombu keeps its pools in a registry keyed by the broker's address: closing only the app's
    pool would leave a closed pool there, which refuses every later acquire ("Acquire on
    closed pool"), even an eager task's, for the next test that names the same broker."""
    from kombu import pools

    from reminders import broker

    broker.pools_closed()
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


FAULT_TABLE: list[dict] = []
FAULT_COLUMNS = ["trial", "expected", "delivered", "duplicates", "lost", "stuck", "uncertain"]


def fault_table_text() -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in FAULT_TABLE)) for c in FAULT_COLUMNS}
    line = "  ".join(c.ljust(widths[c]) for c in FAULT_COLUMNS)
    rows = [
        "  ".join(str(r.get(c, "")).ljust(widths[c]) for c in FAULT_COLUMNS) for r in FAULT_TABLE
    ]
    notes = [f"- {r['trial']}: {r['note']}" for r in FAULT_TABLE if r.get("note")]
    return "\n".join([line, "-" * len(line), *rows, "", *notes]) + "\n"


def record_fault_trial(**row) -> None:
    FAULT_TABLE.append(row)
    out = ROOT / "test-artifacts" / "faults.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(fault_table_text())


def pytest_terminal_summary(terminalreporter):
    if FAULT_TABLE:
        terminalreporter.section("fault injection: every reminder counted against its row")
        for line in fault_table_text().splitlines():
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(written to {ROOT / 'test-artifacts' / 'faults.txt'})")
