"""The operator's morning: what the last nightly scan did and what waits on the outbox
(docs/rules.md, The morning page). Reads only; every figure comes with the admin changelist
filtered to the rows behind it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.db import models
from django.urls import reverse

from installments.models import PlanStatus
from reminders.models import CHECK_TRIGGER, Reminder, ReminderStatus, ScanRun
from reminders.scan import missed_dates

DAY = dt.timedelta(days=1)
# The outbox's states the morning page counts for a run, by the page's words.
WAITING = (ReminderStatus.PENDING, ReminderStatus.SENDING)
NEEDS_ATTENTION = (ReminderStatus.FAILED, ReminderStatus.UNCERTAIN)


@dataclass(frozen=True)
class Figure:
    count: int
    url: str


@dataclass(frozen=True)
class MorningReport:
    today: dt.date
    last_run: ScanRun | None
    last_completed: ScanRun | None
    # Nights before today that no scan completed since the last completed one (the catch-up's
    # own rule, `missed_dates`), and the nights of the last days that were caught up late.
    missed: list[dt.date] = field(default_factory=list)
    caught_up: list[dt.date] = field(default_factory=list)
    # The night of the last scan's date as a whole: a rerun of the same date adds its figures
    # to the first run's instead of hiding them. Started: the first run's start; finished:
    # the last completed run's finish.
    night_runs: int = 0
    night_started_at: dt.datetime | None = None
    night_finished_at: dt.datetime | None = None
    run_figures: dict[str, Figure] = field(default_factory=dict)
    needs_attention: Figure | None = None
    oldest_pending_since: dt.datetime | None = None
    oldest_pending: Figure | None = None

    @property
    def never_completed(self) -> bool:
        return self.last_completed is None

    @property
    def today_pending(self) -> bool:
        """The last completed scan is of an earlier date: today's has not completed (yet)."""
        return self.last_completed is not None and self.last_completed.scan_date < self.today

    @property
    def night_missed(self) -> bool:
        return bool(self.missed or self.caught_up)


def changelist(name: str, **filters) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(filters, safe=',')}" if filters else url


def _night_figures(runs: list[ScanRun]) -> dict[str, Figure]:
    """What the scan of one date did, all its runs added up (a rerun of the same date adds
    its own, usually nothing): plans cancelled on that date, the reminders the runs queued
    and where they are now. Each figure is what its link lists."""
    scan_date = runs[0].scan_date
    ids = ",".join(str(run.pk) for run in runs)
    by_status = dict(
        Reminder.objects.filter(scan_run__in=runs)
        .order_by()
        .values_list("status")
        .annotate(n=models.Count("pk"))
    )

    def reminders(statuses: tuple[str, ...]) -> Figure:
        filters = {"scan_run__id__in": ids, "status__in": ",".join(statuses)}
        return Figure(sum(by_status.get(s, 0) for s in statuses), changelist(REMINDERS, **filters))

    return {
        "cancelled": Figure(
            sum(run.plans_cancelled for run in runs),
            changelist(
                "installments_plan",
                status__exact=PlanStatus.CANCELLED,
                cancelled_on=scan_date.isoformat(),
            ),
        ),
        "queued": Figure(sum(by_status.values()), changelist(REMINDERS, scan_run__id__in=ids)),
        "sent": reminders((ReminderStatus.SENT,)),
        "failed": reminders((ReminderStatus.FAILED,)),
        "waiting": reminders(WAITING),
        # With the above, every reminder the runs queued: the figures add up.
        "skipped": reminders((ReminderStatus.SKIPPED,)),
        "uncertain": reminders((ReminderStatus.UNCERTAIN,)),
    }


REMINDERS = "reminders_reminder"


def last_completed_scan() -> ScanRun | None:
    """The newest night's scan that finished without errors (a caught-up night only
    cancels: it is not a night's scan)."""
    return (
        ScanRun.objects.filter(caught_up=False, finished_at__isnull=False, errors="")
        .order_by("-scan_date", "-finished_at")
        .first()
    )


def morning_report(*, today: dt.date, now: dt.datetime) -> MorningReport:
    # A night's run, or the record the morning check made of a night that never started.
    runs = ScanRun.objects.filter(caught_up=False)
    last_run = runs.order_by("-scan_date", "-started_at").first()
    last_completed = last_completed_scan()
    caught_up = ScanRun.objects.filter(
        caught_up=True, scan_date__gte=today - settings.REMINDER_CATCH_UP_DAYS * DAY
    )
    attention = Reminder.objects.filter(status__in=NEEDS_ATTENTION).count()
    due = Reminder.objects.filter(status=ReminderStatus.PENDING, scheduled_for__lte=now)
    oldest = due.aggregate(oldest=models.Min("scheduled_for"))["oldest"]
    # Every run of the last scan's date, a late catch-up of it too: the plans it cancelled
    # are cancelled on that date and the figure's link lists them. Not the record the
    # morning check made of a night that never started: it ran nothing.
    night: list[ScanRun] = []
    if last_run is not None:
        night = list(
            ScanRun.objects.filter(scan_date=last_run.scan_date)
            .exclude(trigger=CHECK_TRIGGER)
            .order_by("started_at", "pk")
        )
    finishes = [run.finished_at for run in night if run.finished_at and not run.errors]
    return MorningReport(
        today=today,
        last_run=last_run,
        last_completed=last_completed,
        missed=missed_dates(today),
        caught_up=sorted(set(caught_up.values_list("scan_date", flat=True))),
        night_runs=len(night),
        night_started_at=night[0].started_at if night else None,
        night_finished_at=max(finishes, default=None),
        run_figures=_night_figures(night) if night else {},
        needs_attention=Figure(
            attention, changelist(REMINDERS, status__in=",".join(NEEDS_ATTENTION))
        ),
        oldest_pending_since=oldest,
        oldest_pending=Figure(
            due.count(), changelist(REMINDERS, status__exact=ReminderStatus.PENDING)
        ),
    )
