"""Celery tasks: thin interfaces over `dashboard.snapshots`."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from .snapshots import snapshots_write as write


@shared_task(name="dashboard.snapshots_write", acks_late=True, soft_time_limit=600, time_limit=900)
def snapshots_write(scan_date: str) -> int:
    """The day's snapshots, once the night's scan has committed (`SCAN_FINISHED_TASKS`)."""
    return write(today=dt.date.fromisoformat(scan_date))
