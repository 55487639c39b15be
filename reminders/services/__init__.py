"""The reminder outbox: handing rows to the workers, delivering them, re-dispatching.

Rows are written by the scan (reminders/scan/) and handed to Celery by id after commit
(`dispatch`). The delivery (`delivery`) re-reads its rows, claims them with a conditional
UPDATE, checks that each message is still true (`facts`), renders it in the recipient's
language (`compose`) and sends it. Every step is safe to repeat: a second message for one row
finds it claimed or sent and does nothing.
"""

from .cadence import due_date_windows, not_before, quiet_hours, windows_by_recipient
from .compose import compose, digest_context, money, plan_context, render, template_for
from .delivery import Delivery, reminder_deliver, reminders_deliver
from .dispatch import (
    DELIVER_BATCH,
    PUBLISH_BATCH,
    deliver_batch_size,
    dispatch,
    dispatch_on_commit,
    reminder_resend,
    reminder_retry,
    reminders_redispatch,
)
from .facts import Facts, address, reason_not_to_send

__all__ = [
    "DELIVER_BATCH",
    "PUBLISH_BATCH",
    "Delivery",
    "Facts",
    "address",
    "compose",
    "deliver_batch_size",
    "digest_context",
    "dispatch",
    "dispatch_on_commit",
    "due_date_windows",
    "money",
    "not_before",
    "plan_context",
    "quiet_hours",
    "reason_not_to_send",
    "reminder_deliver",
    "reminder_resend",
    "reminder_retry",
    "reminders_deliver",
    "reminders_redispatch",
    "render",
    "template_for",
    "windows_by_recipient",
]
