"""The reminder rows of a chunk, and the insert of rows into the outbox (the digests'
rows are built in `digest`).

Rows are plain tuples built from reads of plain values (no model instances): one per
recipient, step and channel the recipient can be reached on and did not opt out of.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection

from clients.selectors import participants_of
from installments.models import Installment, Plan, PlanStatus

from ..models import (
    CHANNEL_ADDRESS,
    CadenceStep,
    ChannelOptOut,
    Recipient,
    Reminder,
    Trigger,
)
from ..rules import days_from_due, due_date_range
from ..services import due_date_windows, not_before, windows_by_recipient
from .candidates import notice_plans


class ContactDetails(NamedTuple):
    """What a row needs of its recipient: where to reach them and their time zone."""

    id: int
    email: str
    phone: str
    messenger: str
    time_zone: str
    path: str = ""


CONTACT_FIELDS = ("id", "email", "phone", "messenger", "time_zone", "path")


def contact_details(investor) -> ContactDetails:
    return ContactDetails(*(getattr(investor, name) or "" for name in CONTACT_FIELDS))


class Row(NamedTuple):
    """One outbox row to insert (the rest of the columns take their defaults)."""

    recipient_id: int
    kind: str
    channel: str
    scheduled_for: dt.datetime
    plan_id: int | None = None
    installment_id: int | None = None
    digest_date: dt.date | None = None
    payload: dict | None = None


class RowMaker:
    """Turns (recipient, step, subject) into rows, one per channel the recipient can be
    reached on and did not opt out of, scheduled after the quiet hours in their zone."""

    def __init__(self, now: dt.datetime, recipient_ids):
        self.now = now
        self.opted_out = _opted_out(recipient_ids)
        self._moments: dict[tuple[str, str], dt.datetime] = {}

    def _not_before(self, channel: str, time_zone: str) -> dt.datetime:
        key = (channel, time_zone)
        if key not in self._moments:
            zone = ZoneInfo(time_zone) if time_zone else settings.BUSINESS_TIME_ZONE
            self._moments[key] = not_before(self.now, channel=channel, zone=zone)
        return self._moments[key]

    def rows(self, recipient: ContactDetails, step: CadenceStep, **subject):
        for channel in step.channels:
            if (recipient.id, channel) in self.opted_out:
                continue
            if not getattr(recipient, CHANNEL_ADDRESS[channel]).strip():
                continue
            yield Row(
                recipient_id=recipient.id,
                kind=step.code,
                channel=channel,
                scheduled_for=self._not_before(channel, recipient.time_zone),
                **subject,
            )


def _opted_out(investor_ids) -> set[tuple[int, str]]:
    return set(
        ChannelOptOut.objects.filter(investor_id__in=set(investor_ids)).values_list(
            "investor_id", "channel"
        )
    )


OUTBOX_COLUMNS = (
    "recipient_id",
    "kind",
    "channel",
    "plan_id",
    "installment_id",
    "digest_date",
    "queued_on",
    "scheduled_for",
    "status",
    "attempts",
    "last_error",
    "skip_reason",
    "payload",
    "scan_run_id",
    "created_at",
    "dispatched_at",
)
INSERT_BATCH = 1000  # rows per statement: 15 parameters each, within SQLite's limit too


def outbox_insert(
    rows: list[Row], *, scan_date: dt.date, run_id: int | None, now: dt.datetime
) -> list[tuple[int, bool]]:
    """Insert the rows the outbox does not hold yet, in multi-row statements.

    `INSERT … ON CONFLICT DO NOTHING RETURNING`: the unique constraints refuse a second copy
    of a reminder (a rescan, a chunk run twice, a concurrent scan), and the statement returns
    exactly the rows it wrote, with whether their time has come (quiet hours may put it
    later). One statement per thousand rows instead of a model instance and a re-read per row.
    """
    if not rows:
        return []
    ops = connection.ops
    table = connection.ops.quote_name(Reminder._meta.db_table)
    queued_on = ops.adapt_datefield_value(scan_date)
    at = ops.adapt_datetimefield_value(now)
    inserted: list[tuple[int, bool]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start : start + INSERT_BATCH]
            values = []
            params: list = []
            for row in batch:
                values.append("(" + ", ".join(["%s"] * len(OUTBOX_COLUMNS)) + ")")
                params += [
                    row.recipient_id,
                    row.kind,
                    row.channel,
                    row.plan_id,
                    row.installment_id,
                    ops.adapt_datefield_value(row.digest_date),
                    queued_on,
                    ops.adapt_datetimefield_value(row.scheduled_for),
                    "pending",
                    0,
                    "",
                    "",
                    json.dumps(row.payload or {}),
                    run_id,
                    at,
                    # Handed over after commit, when its time has come: recorded now, so the
                    # hand-over need not update every row (it clears this if the broker
                    # refuses them; a process dying before it hands them over leaves rows
                    # the re-dispatch finds once the mark is stale).
                    at if row.scheduled_for <= now else None,
                ]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(OUTBOX_COLUMNS)}) VALUES {', '.join(values)} "
                "ON CONFLICT DO NOTHING RETURNING id, scheduled_for <= %s",
                [*params, at],
            )
            inserted += [(pk, bool(due)) for pk, due in cursor.fetchall()]
    return inserted


def reminder_rows(plan_ids, *, scan_date: dt.date, now: dt.datetime, steps) -> list[Row]:
    """The rows of the due-date steps and the cancellation notices for these plans: two
    reads of plain values (no model instances), then Python over tuples."""
    if not plan_ids:
        return []
    by_code = {step.code: step for step in steps}
    windows = windows_by_recipient(steps)
    wanted: list[tuple[ContactDetails, CadenceStep, dict]] = []
    for installment_id, plan_id, due_date, *investor in _oldest_unpaid(plan_ids, scan_date, steps):
        days = days_from_due(due_date, scan_date)
        for recipient_windows in windows.values():
            for window in recipient_windows:
                if window.contains(days):
                    subject = {"plan_id": plan_id, "installment_id": installment_id}
                    wanted.append((ContactDetails(*investor), by_code[window.code], subject))
    cancelled_levels = [step for step in steps if step.trigger == Trigger.CANCELLED]
    if cancelled_levels:
        contact = [f"investor__{name}" for name in CONTACT_FIELDS]
        for plan_id, *investor in (
            notice_plans(scan_date).filter(pk__in=plan_ids).values_list("pk", *contact)
        ):
            for step in cancelled_levels:
                wanted.append((ContactDetails(*investor), step, {"plan_id": plan_id}))

    participants: dict[int, ContactDetails] = {}
    if any(step.recipient == Recipient.PARTICIPANT for step in steps):
        above = participants_of(investor.path for investor, _, _ in wanted)
        for investor, _, _ in wanted:
            if above[investor.path]:
                participants[investor.id] = contact_details(above[investor.path][0])

    addressed = []
    for investor, step, subject in wanted:
        if step.recipient == Recipient.INVESTOR:
            addressed.append((investor, step, subject))
        elif investor.id in participants:
            addressed.append((participants[investor.id], step, subject))
    maker = RowMaker(now, (recipient.id for recipient, _, _ in addressed))
    return [row for args in addressed for row in maker.rows(args[0], args[1], **args[2])]


def _oldest_unpaid(plan_ids, scan_date: dt.date, steps) -> list[tuple]:
    """(installment id, plan id, due date, *contact details) of the oldest unpaid installment
    of each of these plans that is active, not on hold and due inside some step's window.

    Two reads by primary and foreign key (a join on the oldest unpaid date lets the planner
    walk the date index, where every plan of a cohort shares one value)."""
    in_range = due_date_range(due_date_windows(steps), scan_date)
    if in_range is None:
        return []
    earliest, latest = in_range
    contact = [f"investor__{name}" for name in CONTACT_FIELDS]
    plans = {
        pk: (oldest, investor)
        for pk, oldest, *investor in Plan.objects.filter(
            pk__in=plan_ids,
            status=PlanStatus.ACTIVE,
            oldest_unpaid_due_date__gte=earliest,
            oldest_unpaid_due_date__lte=latest,
        )
        .exclude(hold_until__gte=scan_date)
        .order_by()
        .values_list("pk", "oldest_unpaid_due_date", *contact)
    }
    # Reminders are about the oldest unpaid installment: it sets the grace deadline.
    return [
        (pk, plan_id, due_date, *plans[plan_id][1])
        for pk, plan_id, due_date in Installment.objects.filter(
            plan_id__in=list(plans),
            paid_on__isnull=True,
            due_date__gte=earliest,
            due_date__lte=latest,
        )
        .order_by("plan_id", "number")
        .values_list("pk", "plan_id", "due_date")
        if due_date == plans[plan_id][0]
    ]


def _outbox_key(row: Row) -> tuple:
    """The unique constraint of the outbox that holds `row`, and its values there."""
    if row.installment_id is not None:
        return ("installment", row.recipient_id, row.installment_id, row.kind, row.channel)
    if row.plan_id is not None:
        return ("plan", row.recipient_id, row.plan_id, row.kind, row.channel)
    return ("digest_date", row.recipient_id, row.digest_date, row.kind, row.channel)


# Per constraint: the column of its subject, and the rows it covers (reminders.models.Reminder).
_OUTBOX_SUBJECTS = {
    "installment": ("installment_id", {}),
    "plan": ("plan_id", {"installment__isnull": True}),
    "digest_date": ("digest_date", {}),
}


def rows_not_queued(rows: list[Row]) -> list[Row]:
    """The rows the outbox does not hold yet, each once: what inserting them adds (the insert
    skips a row one of the outbox's unique constraints already holds). The dry run counts
    with it."""
    keys = [_outbox_key(row) for row in rows]
    held: set[tuple] = set()
    for name, (column, covered) in _OUTBOX_SUBJECTS.items():
        subjects = {key[2] for key in keys if key[0] == name}
        if subjects:
            held.update(
                (name, *values)
                for values in Reminder.objects.filter(
                    **covered, **{f"{column}__in": subjects}
                ).values_list("recipient_id", column, "kind", "channel")
            )
    fresh = []
    for row, key in zip(rows, keys, strict=True):
        if key not in held:
            held.add(key)
            fresh.append(row)
    return fresh
