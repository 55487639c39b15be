"""The night under fault injection: real PostgreSQL, a Redis of the test's own, prefork
workers (docs/rules.md, reminders: delivery states its guarantee per channel; a broker that hangs
must not hang the scan).

Each trial injects one fault, then polls (bounded) until every reminder row is final and the
broker holds nothing, and counts against the rows: delivered (reached the email backend or
the gateway), duplicates (a row that reached the recipient more than once), lost (a row that
should have gone out, did not, and is not shown to an admin as "uncertain"), stuck (a row or a
run still unfinished). The table is printed at the end of the run and written to
test-artifacts/faults.txt.
"""

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from backoffice.lib.dates import business_today
from installments.models import Plan, PlanStatus
from installments.services import payment_record
from reminders.models import Reminder, ScanRun
from reminders.scan import chunks_redispatch, scan
from reminders.services import reminders_redispatch
from tests.factories import InvestorFactory, make_plan

from .conftest import record_fault_trial

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DAY = dt.timedelta(days=1)
FINAL = {"sent", "skipped", "failed", "uncertain"}
SLOW_EMAIL = {"EMAIL_BACKEND": "tests.reminders.slow_email.EmailBackend"}
# Small batches under a short claim: a batch always ends well inside its lease, so only a
# dead worker's rows are ever taken over.
FAST_TAKEOVER = {"REMINDER_DELIVER_BATCH": "2", "REMINDER_CLAIM_SECONDS": "5"}


@pytest.fixture(autouse=True)
def _short_delays(settings):
    """What beat does every 5 minutes, here as soon as a lease or the hand-over delay ends."""
    settings.REMINDER_REDISPATCH_AFTER_SECONDS = 2
    settings.REMINDER_CHUNK_LEASE_SECONDS = 3
    settings.REMINDER_CLAIM_SECONDS = 5
    settings.REMINDER_DELIVER_BATCH = 2


def overdue_plans(count: int, today: dt.date, *, email: bool = True):
    """Plans whose first installment fell due yesterday: one "overdue" reminder each, by
    email (or, with `email=False`, by SMS only)."""
    contact = {"phone": ""} if email else {"email": ""}
    return [
        make_plan(
            investor=InvestorFactory(**contact), first_due_date=today - DAY, today=today - 30 * DAY
        )
        for _ in range(count)
    ]


def poll(condition, *, timeout: float, what: str, tick=None, every: float = 0.2):
    """Wait for `condition`, bounded; `tick` (the re-dispatch, as beat) about once a second."""
    deadline = time.monotonic() + timeout
    last_tick = 0.0
    while time.monotonic() < deadline:
        if tick and time.monotonic() - last_tick >= 1:
            tick()
            last_tick = time.monotonic()
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}: {state()}")


def state() -> dict:
    """What the rows and runs are at, for a trial that timed out."""
    rows = Reminder.objects.values_list("status", "attempts", "last_error")
    return {
        "rows": sorted({(s, a, e[:80]) for s, a, e in rows}),
        "runs": list(ScanRun.objects.values_list("pk", "finished_at", "errors")),
    }


def beat():
    now = timezone.now()
    reminders_redispatch(now=now)
    chunks_redispatch(now=now)


def settled(own_redis, *, runs: int = 1):
    """Every row final, every run closed, nothing left in the broker."""

    def check():
        statuses = set(Reminder.objects.values_list("status", flat=True))
        open_runs = ScanRun.objects.filter(caught_up=False, finished_at__isnull=True).count()
        closed = ScanRun.objects.filter(caught_up=False, finished_at__isnull=False).count()
        return statuses <= FINAL and open_runs == 0 and closed >= runs and own_redis.queued() == 0

    return check


def tally(trial: str, deliveries: dict[str, int], rows, *, note: str = "", **extra) -> dict:
    """Count the deliveries against the rows that should have gone out, record the trial."""
    rows = list(rows)
    expected = {f"reminder-{r.pk}": r for r in rows}
    delivered = [ref for ref in expected if deliveries.get(ref, 0) >= 1]
    uncertain = [r for r in rows if r.status == "uncertain"]
    lost = [ref for ref, r in expected.items() if ref not in delivered and r.status != "uncertain"]
    counts = {
        "trial": trial,
        "expected": len(expected),
        "delivered": len(delivered),
        "duplicates": sum(max(0, deliveries.get(ref, 0) - 1) for ref in expected),
        "lost": len(lost),
        "stuck": sum(1 for r in rows if r.status not in FINAL)
        + ScanRun.objects.filter(finished_at__isnull=True).count(),
        "uncertain": len(uncertain),
        "note": note,
        **extra,
    }
    record_fault_trial(**counts)
    return counts


def assert_clean(counts, *, duplicates_allowed: bool = False):
    assert counts["lost"] == 0, counts
    assert counts["stuck"] == 0, counts
    if not duplicates_allowed:
        assert counts["duplicates"] == 0, counts


# ---------------------------------------------------------------------------- a worker killed


def test_a_worker_killed_after_the_mail_server_accepted_leaves_the_reminder_uncertain_not_resent(
    fault_workers, own_redis
):
    today = business_today()
    overdue_plans(10, today)
    env = {**SLOW_EMAIL, **FAST_TAKEOVER, "SLOW_EMAIL_SECONDS": "0.6"}
    first = fault_workers.start("first", pool="prefork", **env)

    scan(scan_date=today, now=timezone.now())
    # The backend writes, then takes its time: a worker killed now has sent a message it has
    # not recorded.
    poll(lambda: len(fault_workers.delivered()) >= 3, timeout=60, what="3 deliveries")
    fault_workers.kill(first)
    fault_workers.start("second", pool="prefork", **env)
    poll(settled(own_redis), timeout=90, what="every row final", tick=beat)

    counts = tally(
        "worker killed after SMTP accepted (email: at most once)",
        fault_workers.delivered(),
        Reminder.objects.all(),
        note="the message being sent at the kill is 'uncertain' for an admin, not resent",
    )
    assert_clean(counts)
    assert counts["uncertain"] >= 1, counts  # the fault did hit a send in flight


class FakeGateway:
    """An SMS gateway that drops a repeat of an Idempotency-Key, and is slow to answer after
    it accepted a message."""

    def __init__(self, delay: float):
        self.accepted: dict[str, int] = {}  # key → requests
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                assert key == body["reference"]
                with gateway.lock:
                    gateway.accepted[key] = gateway.accepted.get(key, 0) + 1
                time.sleep(delay)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> dict[str, int]:
        """What reached the recipients: each key once, however often it was posted."""
        with self.lock:
            return dict.fromkeys(self.accepted, 1)

    def repeats(self) -> int:
        with self.lock:
            return sum(count - 1 for count in self.accepted.values())


@pytest.fixture
def gateway():
    fake = FakeGateway(delay=0.6)
    yield fake
    fake.server.shutdown()


def test_a_worker_killed_after_the_gateway_accepted_retries_with_the_same_key(
    fault_workers, own_redis, gateway
):
    today = business_today()
    overdue_plans(10, today, email=False)
    env = {
        **FAST_TAKEOVER,
        "SMS_BACKEND": "reminders.channels.HttpSmsGateway",
        "SMS_GATEWAY_URL": gateway.url,
    }
    first = fault_workers.start("first", pool="prefork", **env)

    scan(scan_date=today, now=timezone.now())
    poll(lambda: len(gateway.accepted) >= 3, timeout=60, what="3 messages at the gateway")
    fault_workers.kill(first)
    fault_workers.start("second", pool="prefork", **env)
    poll(settled(own_redis), timeout=90, what="every row final", tick=beat)

    rows = Reminder.objects.all()
    counts = tally(
        "worker killed after the SMS gateway accepted (idempotency key: once)",
        gateway.delivered(),
        rows,
        note=f"{gateway.repeats()} repeat(s) sent with the same Idempotency-Key, dropped",
    )
    assert_clean(counts)
    assert counts["uncertain"] == 0
    assert {r.status for r in rows} == {"sent"}


# ---------------------------------------------------------------------------- the database


def terminate_other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_database_connections_terminated_mid_delivery_neither_lose_nor_repeat_a_reminder(
    fault_workers, own_redis
):
    today = business_today()
    overdue_plans(30, today)
    fault_workers.start(
        "w", pool="prefork", **SLOW_EMAIL, **FAST_TAKEOVER, SLOW_EMAIL_SECONDS="0.25"
    )

    scan(scan_date=today, now=timezone.now())
    terminated = 0
    for step in (4, 8, 12, 16, 20):
        poll(
            lambda step=step: len(fault_workers.delivered()) >= step,
            timeout=60,
            what=f"{step} deliveries",
            tick=beat,
        )
        terminated += terminate_other_connections()
    poll(settled(own_redis), timeout=90, what="every row final", tick=beat)

    counts = tally(
        "database connections terminated 5 times mid-delivery",
        fault_workers.delivered(),
        Reminder.objects.all(),
        note=f"{terminated} connections terminated; the outcome recorded on a new connection",
    )
    assert_clean(counts)


# ---------------------------------------------------------------------------- the broker


def test_a_paused_broker_makes_the_scan_write_its_rows_in_process_within_seconds(
    fault_workers, own_redis, settings
):
    settings.REMINDER_CHUNK_SIZE = 4
    today = business_today()
    overdue_plans(12, today)
    own_redis.pause()  # stopped, not closed: connections hang instead of being refused
    outcome = {}

    def night():
        try:
            outcome["report"] = scan(scan_date=today, now=timezone.now())
        except Exception as error:  # asserted below
            outcome["error"] = error
        finally:
            connection.close()

    started = time.monotonic()
    thread = threading.Thread(target=night, daemon=True)
    thread.start()
    thread.join(timeout=20)
    took = time.monotonic() - started
    hung = thread.is_alive()
    try:
        if hung:
            tally(
                "Redis paused (SIGSTOP) during the scan",
                fault_workers.delivered(),
                Reminder.objects.all(),
                note="the scan had not returned after 20 s",
            )
        assert not hung, "the scan hangs on a paused broker"
        assert "error" not in outcome
        rows = list(Reminder.objects.all())
        assert len(rows) == 12
        assert {r.status for r in rows} == {"pending"}
        assert all(r.dispatched_at is None for r in rows)
    finally:
        own_redis.resume()
        thread.join(timeout=30)

    fault_workers.start("w", pool="prefork")
    poll(settled(own_redis), timeout=60, what="every row final", tick=beat)
    counts = tally(
        "Redis paused (SIGSTOP) during the scan",
        fault_workers.delivered(),
        Reminder.objects.all(),
        note=f"scan returned in {took:.1f} s, rows written and pending; sent once Redis was back",
    )
    assert_clean(counts)


def test_redis_restarted_with_messages_in_flight_loses_nothing(fault_workers, own_redis, settings):
    settings.REMINDER_CHUNK_SIZE = 5
    today = business_today()
    overdue_plans(20, today)
    fault_workers.start(
        "w", pool="prefork", **SLOW_EMAIL, **FAST_TAKEOVER, SLOW_EMAIL_SECONDS="0.2"
    )

    scan(scan_date=today, now=timezone.now())
    poll(lambda: len(fault_workers.delivered()) >= 3, timeout=60, what="3 deliveries")
    in_flight = own_redis.queued()
    own_redis.restart()  # no persistence: every message in it is gone
    poll(settled(own_redis), timeout=120, what="every row final", tick=beat)

    counts = tally(
        "Redis restarted with messages in flight",
        fault_workers.delivered(),
        Reminder.objects.all(),
        note=f"{in_flight} message(s) in Redis at the restart; the re-dispatch replaced them",
    )
    assert_clean(counts)


# ---------------------------------------------------------------------------- concurrency


def test_two_scans_at_once_both_complete_and_send_each_reminder_once(
    fault_workers, own_redis, settings
):
    settings.REMINDER_CHUNK_SIZE = 3
    today = business_today()
    overdue_plans(12, today)
    fault_workers.start("a", pool="prefork")
    fault_workers.start("b", pool="prefork")
    barrier = threading.Barrier(2)
    errors = []

    def night():
        try:
            barrier.wait(timeout=10)
            scan(scan_date=today, now=timezone.now())
        except Exception as error:  # asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=night) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()
    assert errors == []
    poll(settled(own_redis, runs=2), timeout=90, what="both runs closed, every row final")

    runs = list(ScanRun.objects.filter(scan_date=today))
    counts = tally(
        "two scans of one date at once",
        fault_workers.delivered(),
        Reminder.objects.all(),
        note=f"{sum(r.status == 'completed' for r in runs)} of {len(runs)} runs completed",
    )
    assert_clean(counts)
    assert [r.status for r in runs] == ["completed", "completed"]
    assert Reminder.objects.count() == 12


def test_payments_racing_the_scan_at_the_deadline_keep_every_paid_plan(fault_workers, own_redis):
    today = business_today()
    # Grace deadline yesterday: tonight's scan cancels each one not paid in time.
    plans = [
        make_plan(
            investor=InvestorFactory(phone=""),
            first_due_date=today - 20 * DAY,
            today=today - 50 * DAY,
        )
        for _ in range(40)
    ]
    paid = plans[::2]
    fault_workers.start("w", pool="prefork")
    barrier = threading.Barrier(5)
    errors = []

    def pay(share):
        try:
            barrier.wait(timeout=10)
            for plan in share:
                first = plan.installments.order_by("number").first()
                payment_record(
                    plan=plan,
                    amount=first.amount,
                    received_on=today - DAY,  # on the grace deadline: in time
                    reference=f"RACE-{plan.pk}",
                    today=today,
                )
        except Exception as error:  # asserted below
            errors.append(error)
        finally:
            connection.close()

    def night():
        try:
            barrier.wait(timeout=10)
            scan(scan_date=today, now=timezone.now())
        except Exception as error:  # asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(paid[k::4],)) for k in range(4)]
    threads.append(threading.Thread(target=night))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()
    assert errors == []
    poll(settled(own_redis), timeout=60, what="the run closed, every row final")

    status = dict(Plan.objects.values_list("pk", "status"))
    kept = [p.pk for p in paid if status[p.pk] == PlanStatus.ACTIVE]
    counts = {
        "trial": "payments racing the scan at the deadline (4 threads)",
        "expected": len(paid),
        "delivered": len(kept),
        "duplicates": 0,
        "lost": len(paid) - len(kept),
        "stuck": ScanRun.objects.filter(finished_at__isnull=True).count()
        + Reminder.objects.exclude(status__in=FINAL).count(),
        "uncertain": 0,
        "note": "counted in plans: every plan paid in time is active; the unpaid are cancelled",
    }
    record_fault_trial(**counts)
    assert_clean(counts)
    assert kept == [p.pk for p in paid]
    assert {status[p.pk] for p in plans[1::2]} == {PlanStatus.CANCELLED}
