"""Celery tasks: thin interfaces over `dashboard.snapshots`, and the receiver that queues the
day's snapshots once the night's scan has finished (connected in `DashboardConfig.ready`)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from reminders import broker

from .snapshots import snapshots_backfill as backfill
from .snapshots import snapshots_write as write


@shared_task(name="dashboard.snapshots_write", acks_late=True, soft_time_limit=600, time_limit=900)
def snapshots_write(scan_date: str) -> int:
    """The day's snapshots, once the night's scan has committed (`snapshots_after_scan`)."""
    return write(today=dt.date.fromisoformat(scan_date))


def snapshots_after_scan(sender, *, scan_date: dt.date, caught_up: bool = False, **kwargs) -> None:
    """`reminders.signals.scan_finished`: queue the snapshots of the scan's date. With the
    broker down (or none, as in the demo) they are written here and now, as a scan chunk is.
    A night caught up late gets none: its figures are no longer that night's (the backfill
    writes what the data still tells of it). Writing a day twice rewrites the same rows."""
    if caught_up:
        return
    day = scan_date.isoformat()
    queued = not snapshots_write.app.conf.task_always_eager and broker.publish(
        snapshots_write, [[(day,)]], fallback="snapshot day(s) written here"
    )
    if not queued:
        snapshots_write(day)


def snapshots_after_demo(sender, *, today: dt.date, **kwargs) -> None:
    """`structure.signals.demo_loaded`: the demo's past days, as far as its data allows (the
    backfill writes only the days that have none)."""
    backfill(today=today)
