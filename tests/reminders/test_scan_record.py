"""The scan's record tells the truth after a failure (issue: a run reading "errors" for good,
cancellations without their run, chunks of a dead run invisible for 15 minutes)."""

import datetime as dt

import pytest
from django.utils import timezone

from installments.models import PlanEvent, PlanEventKind, PlanStatus
from reminders import scan as reminder_scan
from reminders.models import ScanChunk, ScanRun
from reminders.scan import chunks_redispatch, scan, scan_check, scan_chunk_failed, scan_chunk_run
from tests.factories import make_plan

from .conftest import business_moment

pytestmark = pytest.mark.django_db

D = dt.date(2025, 3, 10)
DAY = dt.timedelta(days=1)


def expired_plans(count: int):
    """Plans whose grace deadline is D − 1: the scan of D cancels them."""
    return [make_plan(first_due_date=D - 20 * DAY, today=D - 50 * DAY) for _ in range(count)]


def test_a_chunk_that_failed_once_and_then_succeeded_leaves_a_completed_run():
    make_plan(first_due_date=D - DAY, today=D - 30 * DAY)
    now = business_moment(D)
    run = scan(scan_date=D, now=now).run
    first, *others = run.chunks.order_by("number")
    scan_chunk_failed(chunk_id=first.pk, error="OperationalError('server closed the connection')")
    assert ScanRun.objects.get(pk=run.pk).status == "errors"

    for chunk in [first, *others]:
        scan_chunk_run(chunk_id=chunk.pk, now=now)

    run.refresh_from_db()
    assert run.errors == ""
    assert run.status == "completed"
    assert scan_check(scan_date=D, now=now + dt.timedelta(hours=4)) is None


def test_a_crash_after_the_cancellations_leaves_one_truthful_record_after_the_rerun(monkeypatch):
    plans = expired_plans(3)
    now = business_moment(D, hour=2)

    def crash(scan_date):
        raise RuntimeError("the scan process died here")

    with monkeypatch.context() as patch:
        patch.setattr(reminder_scan, "candidate_plan_ids", crash)
        with pytest.raises(RuntimeError):
            scan(scan_date=D, now=now)

    scan(scan_date=D, now=now)

    runs = list(ScanRun.objects.filter(scan_date=D))
    assert sum(run.plans_cancelled for run in runs) == 3
    cancelling = {
        event.data.get("scan_run")
        for event in PlanEvent.objects.filter(kind=PlanEventKind.CANCELLED)
    }
    assert cancelling == {run.pk for run in runs if run.plans_cancelled}
    for plan in plans:
        plan.refresh_from_db()
        assert plan.status == PlanStatus.CANCELLED


def test_the_chunks_of_a_scan_that_died_are_handed_over_after_their_lease(monkeypatch):
    make_plan(first_due_date=D - DAY, today=D - 30 * DAY)
    # The scan's process dies before it could run or hand over its chunks.
    monkeypatch.setattr(reminder_scan, "dispatch_chunks", lambda chunk_ids: None)
    run = scan(scan_date=D, now=timezone.now()).run
    monkeypatch.undo()
    assert ScanChunk.objects.filter(run=run, done_at__isnull=True).count() == 2

    # Past the lease (REMINDER_CHUNK_LEASE_SECONDS, 330 s) but well inside 15 minutes.
    assert chunks_redispatch(now=timezone.now() + dt.timedelta(seconds=400)) == 2
    run.refresh_from_db()
    assert run.status == "completed"
