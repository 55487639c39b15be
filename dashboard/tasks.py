"""Celery tasks: thin interfaces over `dashboard.snapshots` and `dashboard.kept`, and the
receivers that run them once the night's scan has finished or the demo loaded (connected in
`DashboardConfig.ready`)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from backoffice.lib.dates import business_today
from installments.read_model import kept_amounts_renew as renew
from reminders import broker

from .kept import kept_figures_refresh as keep
from .snapshots import snapshots_backfill as backfill
from .snapshots import snapshots_write as write


@shared_task(name="dashboard.snapshots_write", acks_late=True, soft_time_limit=600, time_limit=900)
def snapshots_write(scan_date: str) -> int:
    """The day's snapshots, once the night's scan has committed (`snapshots_after_scan`)."""
    return write(today=dt.date.fromisoformat(scan_date))


@shared_task(
    name="dashboard.kept_figures_refresh", acks_late=True, soft_time_limit=1800, time_limit=2400
)
def kept_figures_refresh() -> int:
    """Today's figures kept on every investor whose row is not kept for today
    (`dashboard.kept`), after the investors' kept overdue amounts that no longer hold today
    are rewritten (`installments.read_model.kept_amounts_renew`, which the dashboard's
    buckets and the Structure read): every ten minutes (the schedule in the admin's periodic
    tasks; the day's first run checks every investor and rewrites those whose figures moved)
    and after the night's scan, the rows the plan writes emptied since. Always for the
    business day it runs on, so a message delivered late keeps nothing stale; run twice, the
    second finds nothing to do."""
    today = business_today()
    renew(today=today)
    return keep(today=today)


def _queue(task, args: tuple, fallback: str) -> None:
    """Queue `task`; with the broker down (or none, as in the demo) run it here and now, as a
    scan chunk is."""
    queued = not task.app.conf.task_always_eager and broker.publish(
        task, [[args]], fallback=fallback
    )
    if not queued:
        task(*args)


def snapshots_after_scan(sender, *, scan_date: dt.date, caught_up: bool = False, **kwargs) -> None:
    """`reminders.signals.scan_finished`: queue the snapshots of the scan's date. A night
    caught up late gets none: its figures are no longer that night's (the backfill writes
    what the data still tells of it). Writing a day twice rewrites the same rows."""
    if caught_up:
        return
    _queue(snapshots_write, (scan_date.isoformat(),), "snapshot day(s) written here")


def kept_figures_after_scan(sender, *, caught_up: bool = False, **kwargs) -> None:
    """`reminders.signals.scan_finished`: keep the day's figures once the night's scan has
    cancelled what ran out (a night caught up late: the latest night does it)."""
    if caught_up:
        return
    _queue(kept_figures_refresh, (), "refresh(es) of the kept figures run here")


def snapshots_after_demo(sender, *, today: dt.date, **kwargs) -> None:
    """`structure.signals.demo_loaded`: the demo's past days, as far as its data allows (the
    backfill writes only the days that have none), and today's figures kept."""
    backfill(today=today)
    renew(today=today)
    keep(today=today)
