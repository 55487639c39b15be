"""The demo's recent history, after its portfolio is loaded: last night's scan, run for real
(a finished ScanRun of yesterday with the reminders it queued, sent in-process by the console
backends), then `signals.demo_loaded` for the floors above (the dashboard's past snapshots).
So the admin home and the dashboard's trend have real shapes on first start."""

from __future__ import annotations

import contextlib
import datetime as dt
import io

from django.utils import timezone

from reminders.scan import ScanReport, scan

from .signals import demo_loaded

DAY = dt.timedelta(days=1)
TRIGGER = "demo"


def demo_history(*, today: dt.date) -> ScanReport:
    """Last night's scan (of yesterday: the plans whose deadline was yesterday stay past it,
    awaiting tonight's), its snapshots (written when the run finishes) and the past ones."""
    # The console backends print every message the scan sends (hundreds): the admin's
    # Reminders list has them.
    with contextlib.redirect_stdout(io.StringIO()):
        report = scan(scan_date=today - DAY, now=timezone.now(), trigger=TRIGGER)
    demo_loaded.send(sender=None, today=today)
    return report
