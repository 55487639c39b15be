"""The kept figures under concurrent transactions (PostgreSQL): the dashboard reads in one
snapshot, and the refresh never waits on a row a write holds."""

import datetime as dt
import threading
from contextlib import contextmanager

import pytest
import time_machine
from django.conf import settings
from django.db import close_old_connections, connection, transaction

from clients.models import Investor
from dashboard import kept
from dashboard.figures import one_snapshot
from dashboard.models import KeptFiguresCheck
from dashboard.tasks import kept_figures_refresh
from tests.factories import InvestorFactory, make_plan, participant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

D = dt.date(2025, 3, 10)
NOON = dt.datetime.combine(D, dt.time(12), settings.BUSINESS_TIME_ZONE)


@pytest.fixture
def late():
    root = participant("priya")
    investor = InvestorFactory(sponsor=root)
    make_plan(investor=investor, first_due_date=D - 10 * dt.timedelta(days=1), today=D)
    return investor


def _in_thread(call):
    """Run `call` on its own connection, to the end, and return what it returned."""
    result = []

    def run():
        try:
            result.append(call())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    return result[0]


def _stamp(pk: int):
    return Investor.objects.filter(pk=pk).values_list("kept_figures_stamp", flat=True).get()


def test_the_dashboard_reads_in_one_snapshot(late):
    with time_machine.travel(NOON, tick=False):
        kept_figures_refresh()
        with one_snapshot():
            first = _stamp(late.pk)
            # A write commits between two of the dashboard's statements.
            _in_thread(lambda: Investor.objects.filter(pk=late.pk).update(kept_figures_stamp=None))
            assert _stamp(late.pk) == first == kept.stamp()
        assert _stamp(late.pk) is None


@contextmanager
def _held(pk: int):
    """A write holding the investor row `pk`, on its own connection, until the block ends
    (or the block sets the event it is given)."""
    held, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                Investor.objects.select_for_update().get(pk=pk)
                held.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert held.wait(timeout=30)
        yield release
    finally:
        release.set()
        thread.join(timeout=60)
        close_old_connections()


def test_the_refresh_skips_a_row_a_write_holds_and_keeps_it_on_the_next_run(late):
    with _held(late.pk), time_machine.travel(NOON, tick=False):
        # Returns once its retry of the row has waited its two seconds, not for the write.
        kept_figures_refresh()
        assert _stamp(late.pk) is None
        # The held row was not checked: the day's check is not recorded.
        assert not KeptFiguresCheck.objects.filter(checked_at__isnull=False).exists()
    with time_machine.travel(NOON, tick=False):
        assert kept_figures_refresh() == 1
    assert _stamp(late.pk) == kept.stamp()
    assert KeptFiguresCheck.objects.filter(day=D, checked_at__isnull=False).exists()


def test_a_row_released_while_the_refresh_waits_for_it_is_kept_and_the_day_checked(late):
    def release_once_the_refresh_waits(release):
        # Polls until another session waits on a row lock: the refresh's retry of the row.
        try:
            for _ in range(600):
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                    if cursor.fetchone()[0]:
                        break
                threading.Event().wait(0.05)
            release.set()
        finally:
            connection.close()

    with _held(late.pk) as release:
        releaser = threading.Thread(target=release_once_the_refresh_waits, args=(release,))
        releaser.start()
        try:
            with time_machine.travel(NOON, tick=False):
                assert kept_figures_refresh() == 2
        finally:
            release.set()
            releaser.join(timeout=60)
    assert _stamp(late.pk) == kept.stamp()
    assert KeptFiguresCheck.objects.filter(day=D, checked_at__isnull=False).exists()
