"""Which plans the night's scan must look at: the nights it missed, its scope since the last
scan that queued reminders, and the candidate plans read off indexes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import models

from installments.models import Payment, Plan, PlanEvent, PlanStatus

from ..models import CadenceStep, ScanRun, Trigger
from ..rules import days_from_due, due_date_range, notice_from
from ..services import due_date_windows

DAY = dt.timedelta(days=1)

# Payments and audit entries stamped this long before the previous scan started are read
# again: a transaction stamps its rows before it commits, so one that stamped them just before
# that scan read the plan may have committed just after. Reading a few more plans costs
# nothing (their rows are refused by the outbox); missing one would lose its reminder.
TOUCHED_MARGIN = dt.timedelta(hours=1)


def missed_dates(scan_date: dt.date) -> list[dt.date]:
    """Nights before `scan_date` with no completed scan since the last completed one, at
    most REMINDER_CATCH_UP_DAYS back. None before the first scan ever."""
    last = (
        ScanRun.objects.filter(finished_at__isnull=False, scan_date__lt=scan_date)
        .aggregate(last=models.Max("scan_date"))
        .get("last")
    )
    if last is None:
        return []
    first = max(last + DAY, scan_date - settings.REMINDER_CATCH_UP_DAYS * DAY)
    return [first + k * DAY for k in range((scan_date - first).days)]


@dataclass(frozen=True)
class Scope:
    """What tonight's reminders may have changed since the last scan that queued reminders.

    `previous` is that scan (None before the first one); `earliest`..`latest` the oldest
    unpaid due dates some step is true for tonight (`rules.due_date_range`); `exact_dates`
    the oldest unpaid due dates that put a plan on a step's first day on some night since
    it (missed nights included, kept only where a step is still true today);
    `touched_since` the moment from which payments and audit entries count as changes;
    `hold_ended` the range of `hold_until` of the holds that ended since it.
    """

    previous: ScanRun | None
    earliest: dt.date
    latest: dt.date
    exact_dates: tuple[dt.date, ...] = ()
    touched_since: dt.datetime | None = None
    hold_ended: tuple[dt.date, dt.date] | None = None


def last_reminder_run(scan_date: dt.date) -> ScanRun | None:
    """The last completed scan up to `scan_date` that queued reminders (a caught-up night
    only cancels). Of two completed runs of that date, the earlier start: the safer "since".

    A rerun of a date already scanned finds that date's own run: no window has opened since,
    so it reads only the plans touched since that run started (measured: 22 s of re-reading
    a night's 114,543 refused reminders at full scale, without this)."""
    return (
        ScanRun.objects.filter(finished_at__isnull=False, caught_up=False, scan_date__lte=scan_date)
        .order_by("-scan_date", "started_at")
        .first()
    )


def scan_scope(scan_date: dt.date, steps, previous: ScanRun | None) -> Scope | None:
    """None when no due-date step is active."""
    windows = due_date_windows(steps)
    in_range = due_date_range(windows, scan_date)
    if in_range is None:
        return None
    earliest, latest = in_range
    if previous is None:
        return Scope(previous=None, earliest=earliest, latest=latest)
    gap = (scan_date - previous.scan_date).days
    nights = [previous.scan_date + k * DAY for k in range(1, gap + 1)]
    opened = [w.due_date_opening_on(night) for night in nights for w in windows]
    true_today = [
        due for due in opened if any(v.contains(days_from_due(due, scan_date)) for v in windows)
    ]
    return Scope(
        previous=previous,
        earliest=earliest,
        latest=latest,
        exact_dates=tuple(sorted(set(true_today))),
        touched_since=previous.started_at - TOUCHED_MARGIN,
        hold_ended=(previous.scan_date, scan_date - DAY),
    )


def notice_plans(scan_date: dt.date):
    """The cancelled plans whose cancellation notice is still news on `scan_date`
    (`rules.notice_from`)."""
    return Plan.objects.filter(
        status=PlanStatus.CANCELLED,
        cancelled_on__gte=notice_from(scan_date),
        cancelled_on__lte=scan_date,
    )


def candidate_plan_ids(scan_date: dt.date, *, steps=None) -> list[int]:
    """The plans that may need a reminder tonight: the night's changes, not the windows.

    Why this reaches every reminder that reading every plan in a window would (tested by
    tests/reminders/test_scan_scope.py over random histories): a reminder true tonight is
    about a plan P, active and not on hold, whose oldest unpaid installment (due D) puts
    tonight in a step's window [D+first, D+last]. Let L be the last scan that queued
    reminders (before the first one ever: every plan in a window is read, the base case).
      (a) If the window opened after L (D+first in (L, tonight]), D+first is tonight or a
          missed night: P is read by its exact date.
      (b) Else the window was already open at L, and since tonight ≤ D+last, L was inside
          the same window. If P was then as it is now (same oldest unpaid installment,
          active, not on hold), L wrote this reminder. What changes those is a payment
          (Payment.recorded_at), a restore, a hold, a release, shares added, a creation
          (each writes a PlanEvent), or a hold running out by the calendar (`hold_until`
          in [L, tonight)): P is read as touched or as a hold ended.
      (c) The cancellation notices (plans cancelled in the last days) and the digests are
          read as before.
    Not changes of a plan, so not read again: the cadence edited in the admin, a contact
    added or an opt-out withdrawn, a move in the tree. They apply from a step's next day.
    """
    if steps is None:
        steps = list(CadenceStep.objects.active())
    scope = scan_scope(scan_date, steps, last_reminder_run(scan_date))
    reads = []
    if scope is not None and scope.previous is None:
        reads.append(window_plans(scope))
    elif scope is not None:
        reads += changed_plans(scope)
    if any(step.trigger == Trigger.CANCELLED for step in steps):
        reads.append(notice_plans(scan_date))
    return sorted(_union(reads))


def _union(reads: list[models.QuerySet]) -> set[int]:
    """The ids of every read, in one statement (UNION: one round trip, each branch off its
    own index)."""
    if not reads:
        return set()
    first, *rest = [read.order_by().values_list("pk", flat=True) for read in reads]
    return set(first.union(*rest) if rest else first)


def changed_plans(scope: Scope) -> list[models.QuerySet]:
    """The active plans a change since `scope.previous` may have put in a window: four
    reads, each off its own index (an OR of them would be one plan for all)."""
    active = Plan.objects.filter(status=PlanStatus.ACTIVE)
    in_range = {
        "oldest_unpaid_due_date__gte": scope.earliest,
        "oldest_unpaid_due_date__lte": scope.latest,
    }
    reads = []
    # plan_active_oldest_unpaid_idx (an IN list of dates),
    if scope.exact_dates:
        reads.append(active.filter(oldest_unpaid_due_date__in=scope.exact_dates))
    # planevent_at_idx and payment_recorded_at_idx, then the primary key,
    for touched in (
        PlanEvent.objects.filter(at__gte=scope.touched_since),
        Payment.objects.filter(recorded_at__gte=scope.touched_since),
    ):
        reads.append(active.filter(pk__in=touched.order_by().values("plan_id"), **in_range))
    # and plan_active_hold_idx.
    start, end = scope.hold_ended
    reads.append(active.filter(hold_until__gte=start, hold_until__lte=end, **in_range))
    return reads


def changed_plan_ids(scope: Scope) -> set[int]:
    return _union(changed_plans(scope))


def window_plans(scope: Scope) -> models.QuerySet:
    """Every active plan whose oldest unpaid installment is in some step's window: the
    first scan ever (an empty outbox to fill), a range on plan_active_oldest_unpaid_idx."""
    return Plan.objects.filter(
        status=PlanStatus.ACTIVE,
        oldest_unpaid_due_date__gte=scope.earliest,
        oldest_unpaid_due_date__lte=scope.latest,
    )


def window_plan_ids(scope: Scope) -> list[int]:
    return list(window_plans(scope).values_list("pk", flat=True))
