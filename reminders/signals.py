"""What the reminders floor tells the floors above it, without importing them.

`scan_finished` is sent once a scan run has finished, after the transaction that finished it
has committed: when the last chunk closed a night's run, or when a missed night was caught up.
Arguments: `run_id`, `scan_date`, `caught_up`. It is sent with `send_robust`: a receiver that
fails is logged and never undoes or fails the scan. A run is finished once, but a receiver
must still be idempotent (a rescan of the same date finishes a second run of that date).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

scan_finished = Signal()


def scan_finished_on_commit(*, run_id: int, scan_date: dt.date, caught_up: bool) -> None:
    """Send `scan_finished` once the current transaction commits (at once outside one)."""

    def send() -> None:
        for receiver, result in scan_finished.send_robust(
            sender=None, run_id=run_id, scan_date=scan_date, caught_up=caught_up
        ):
            if isinstance(result, Exception):
                logger.error(
                    "after the scan of %s (run #%s), %r failed: %r",
                    scan_date,
                    run_id,
                    receiver,
                    result,
                    exc_info=result,
                )

    transaction.on_commit(send)
