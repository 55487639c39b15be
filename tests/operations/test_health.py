"""/health/ (README, The morning page and /health/): 200 when the database, the broker, the
workers and the last scan are well; 503 naming the check that fails. Failures are faked: a
dead broker is a port nobody listens on, never the shared Redis."""

import datetime as dt

import pytest
from django.db import OperationalError, connections
from django.test import Client
from django.utils import timezone

from reminders import broker
from reminders.models import ScanRun

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def scan_finished(hours_ago: float, **fields) -> ScanRun:
    run = ScanRun.objects.create(scan_date=timezone.localdate(), **fields)
    ScanRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now() - dt.timedelta(hours=hours_ago)
    )
    return run


@pytest.fixture
def dead_broker():
    """Celery publishing to a broker on a port nobody listens on."""
    from backoffice.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = "redis://127.0.0.1:9/0", False
    broker._unreachable.clear()
    yield
    app.conf.broker_url, app.conf.task_always_eager = saved
    broker._unreachable.clear()


def health(path: str = "/health/"):
    response = Client().get(path, **JSON)
    return response.status_code, response.json()


def test_all_well_is_a_200_naming_every_check():
    scan_finished(hours_ago=5)

    status, checks = health()

    assert status == 200
    assert checks == {
        "Database(alias='default')": "OK",
        "Broker(in-process)": "OK",
        "Workers(in-process)": "OK",
        "LastScan": "OK",
    }


def test_without_a_broker_the_demo_is_not_red_for_it():
    scan_finished(hours_ago=1)
    response = Client().get("/health/")
    assert response.status_code == 200
    assert "Broker(in-process)" in response.content.decode()  # the library's HTML page


def test_a_database_that_cannot_be_reached_is_a_503_naming_it(monkeypatch):
    scan_finished(hours_ago=1)

    def refused(self):
        raise OperationalError("connection refused")

    monkeypatch.setattr(type(connections["default"]), "temporary_connection", refused)

    status, checks = health()

    assert status == 503
    assert checks["Database(alias='default')"] != "OK"
    assert checks["LastScan"] == "OK"


def test_a_last_scan_older_than_the_setting_is_a_503_naming_it(settings):
    settings.HEALTH_SCAN_MAX_AGE_HOURS = 26
    scan_finished(hours_ago=27)

    status, checks = health()

    assert status == 503
    assert checks["LastScan"] == (
        "Unavailable: The last completed scan finished 27 hours ago "
        "(more than HEALTH_SCAN_MAX_AGE_HOURS=26)."
    )
    settings.HEALTH_SCAN_MAX_AGE_HOURS = 28
    assert health()[0] == 200


def test_no_completed_scan_or_only_a_failed_one_is_a_503():
    assert health()[1]["LastScan"] == "Unavailable: No nightly scan has completed."
    scan_finished(hours_ago=1, errors="chunk 2: boom")
    status, checks = health()
    assert status == 503
    assert checks["LastScan"] == "Unavailable: No nightly scan has completed."


def test_a_broker_that_does_not_answer_is_a_503_naming_it_and_the_workers(dead_broker):
    scan_finished(hours_ago=1)

    status, checks = health()

    assert status == 503
    assert checks["Broker"].startswith("Unavailable: Unable to connect to Redis")
    assert checks["Workers"] != "OK"
    assert checks["Database(alias='default')"] == "OK"


def test_the_web_containers_subset_is_the_database_only(dead_broker):
    status, checks = health("/health/web/")
    assert (status, checks) == (200, {"Database(alias='default')": "OK"})
