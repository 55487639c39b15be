"""The reminder rows of a chunk written set-based: one `INSERT … SELECT … ON CONFLICT DO
NOTHING RETURNING` does what `rows.reminder_rows` + `rows.outbox_insert` do in Python.

The twin of `rows.reminder_rows` for the investors' due-date steps and cancellation notices
(the default cadence; a step addressed to the participant above the investor keeps the
Python path, which reads the participants off the paths). `tests/reminders/test_scan_twins.py`
holds the two equal over random plans, cadences, addresses, opt-outs and time zones, on SQLite
and on PostgreSQL. The rules stay in Python and reach the statement as small tables of values:

- the level: each window of `rules.step_windows` becomes the range of due dates it is true
  for tonight (`rules.due_dates_of`), so the statement compares dates, never days;
- quiet hours: `services.not_before` evaluated for every known time zone (and the business
  zone for ''), of which only the zones where `now` falls inside the quiet hours are sent
  (zone, moment); every other row is scheduled `now`.

Where the Python path built a tuple per row and sent fifteen parameters per row, this sends
the chunk's plan ids and the tables above, and PostgreSQL builds, checks and writes the rows.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection

from clients.models import Investor
from installments.models import Installment, Plan, PlanStatus

from ..models import CHANNEL_ADDRESS, ChannelOptOut, Recipient, Reminder, Trigger
from ..rules import due_date_range, due_dates_of, notice_from
from ..services import not_before, windows_by_recipient

# The statement's own columns of the outbox (the rest take their defaults).
_COLUMNS = (
    "recipient_id, kind, channel, plan_id, installment_id, digest_date, queued_on, "
    "scheduled_for, status, attempts, last_error, skip_reason, payload, scan_run_id, "
    "created_at, dispatched_at"
)


def sql_steps(steps) -> list:
    """The steps the statement writes: the investors' due-date steps and notices."""
    return [
        step
        for step in steps
        if step.recipient == Recipient.INVESTOR
        and step.trigger in (Trigger.DUE_DATE, Trigger.CANCELLED)
    ]


def python_steps(steps) -> list:
    """The steps left to `rows.reminder_rows`: those addressed to the participant above."""
    return [
        step
        for step in steps
        if step.recipient == Recipient.PARTICIPANT
        and step.trigger in (Trigger.DUE_DATE, Trigger.CANCELLED)
    ]


@lru_cache(maxsize=1)
def _known_zones() -> tuple[str, ...]:
    # The names `validate_time_zone` accepts, and '' for the business zone. Reading the
    # zone database walks the file system: once per process.
    return ("", *sorted(zoneinfo.available_timezones()))


@lru_cache(maxsize=16)
def quiet_moments(now: dt.datetime, quiet_text: str, channel: str) -> tuple:
    """(zone, moment, due) for every known zone where a message on a quiet `channel` may
    not go out at `now`: `moment` is `services.not_before` there. The other zones: `now`.
    `quiet_text` (the setting) is part of the key so a changed setting is read again."""
    moments = []
    for name in _known_zones():
        zone = ZoneInfo(name) if name else settings.BUSINESS_TIME_ZONE
        moment = not_before(now, channel=channel, zone=zone)
        if moment != now:
            moments.append((name, moment, moment <= now))
    return tuple(moments)


def _table(name: str, columns: str, rows: list[tuple]) -> tuple[str, list]:
    values = ", ".join("(" + ", ".join(["%s"] * len(row)) + ")" for row in rows)
    return f"{name}({columns}) AS (VALUES {values})", [value for row in rows for value in row]


def _present(column: str) -> str:
    """`value.strip()` is not empty (the address test of `rows.RowMaker`)."""
    blank = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"
    if connection.vendor == "postgresql":
        return f"btrim(COALESCE({column}, ''), {blank}) <> ''"
    return f"trim(COALESCE({column}, ''), {blank.replace('chr(', 'char(')}) <> ''"


def _marks(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _among(column: str, ids: list[int]) -> tuple[str, list]:
    """`column` is one of `ids`, with the ids as one parameter: an array literal on
    PostgreSQL, a JSON array on SQLite. A chunk's two thousand ids as so many parameters
    cost PostgreSQL more to parse and plan than the rest of the statement, and psycopg2
    more to quote."""
    text = ",".join(str(int(pk)) for pk in ids)
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", ["{" + text + "}"]
    return f"{column} IN (SELECT value FROM json_each(%s))", ["[" + text + "]"]


def _table_name(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@dataclass
class _Parts:
    """The statement's pieces, each with its parameters in the order they appear in it: the
    WITH tables, the subjects (one SELECT of (investor, kind, plan, installment) per kind of
    step) and the join of the quiet moments."""

    tables: list[str] = field(default_factory=list)
    table_params: list = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    subject_params: list = field(default_factory=list)
    after_subjects: list[str] = field(default_factory=list)  # WITH tables reading `subjects`

    def add_table(self, name: str, columns: str, rows: list[tuple]) -> None:
        table, values = _table(name, columns, rows)
        self.tables.append(table)
        self.table_params += values


def _window_subject(parts: _Parts, chunk: tuple[str, list], windows, scan_date: dt.date) -> None:
    """The active plans whose oldest unpaid installment is in a step's window tonight."""
    in_range = due_date_range(windows, scan_date)
    if in_range is None:
        return
    adapt = connection.ops.adapt_datefield_value
    earliest, latest = in_range
    ranges = [
        (window.code, adapt(start), adapt(end))
        for window in windows
        for start, end in [due_dates_of(window, scan_date)]
    ]
    parts.add_table("window_dates", "kind, due_from, due_to", ranges)
    plan, installment = _table_name(Plan), _table_name(Installment)
    among, among_params = chunk
    # Reminders are about the oldest unpaid installment: it sets the grace deadline.
    parts.subjects.append(f"""
        SELECT p.investor_id AS investor_id, w.kind AS kind, p.id AS plan_id,
               n.id AS installment_id
        FROM {plan} p
        JOIN {installment} n ON n.plan_id = p.id AND n.due_date = p.oldest_unpaid_due_date
        JOIN window_dates w ON n.due_date BETWEEN w.due_from AND w.due_to
        WHERE {among} AND p.status = %s
          AND p.oldest_unpaid_due_date BETWEEN %s AND %s
          AND (p.hold_until IS NULL OR p.hold_until < %s) AND n.paid_on IS NULL""")
    parts.subject_params += [
        *among_params,
        PlanStatus.ACTIVE.value,
        adapt(earliest),
        adapt(latest),
        adapt(scan_date),
    ]


def _notice_subject(parts: _Parts, chunk: tuple[str, list], notices, scan_date: dt.date) -> None:
    """The plans cancelled within the cancellation notice's window."""
    if not notices:
        return
    adapt = connection.ops.adapt_datefield_value
    among, among_params = chunk
    parts.add_table("notice", "kind", [(step.code,) for step in notices])
    parts.subjects.append(f"""
        SELECT p.investor_id, s.kind, p.id, CAST(NULL AS BIGINT)
        FROM {_table_name(Plan)} p CROSS JOIN notice s
        WHERE {among} AND p.status = %s AND p.cancelled_on >= %s
          AND p.cancelled_on <= %s""")
    parts.subject_params += [
        *among_params,
        PlanStatus.CANCELLED.value,
        adapt(notice_from(scan_date)),
        adapt(scan_date),
    ]


def _quiet_join(parts: _Parts, now: dt.datetime) -> tuple[str, list, str, str]:
    """The LEFT JOIN on the quiet moments (when anybody is inside quiet hours at `now`), its
    parameters, and the expressions of `scheduled_for` and `dispatched_at`."""
    quiet, quiet_params, channels = _quiet_hours(now)
    if not quiet:
        return "", [], "%s", "%s"
    parts.tables.append(quiet)
    parts.table_params += quiet_params
    # Of the few hundred zones inside quiet hours, those of the chunk's investors (a handful):
    # the join then compares each row with those, not with every zone.
    parts.after_subjects.append(f"""quiet_here AS (
        SELECT zone, moment, due FROM quiet
        WHERE zone IN (SELECT COALESCE(i.time_zone, '') FROM subjects s
                       JOIN {_table_name(Investor)} i ON i.id = s.investor_id))""")
    join = (
        f"LEFT JOIN quiet_here q ON q.zone = COALESCE(i.time_zone, '') "
        f"AND c.channel IN ({_marks(channels)})"
    )
    return join, channels, "COALESCE(q.moment, %s)", "CASE WHEN q.zone IS NULL OR q.due THEN %s END"


def reminders_insert(
    plan_ids, *, scan_date: dt.date, run_id: int | None, now: dt.datetime, steps
) -> list[tuple[int, bool]]:
    """Insert the rows `rows.reminder_rows(plan_ids, steps=sql_steps(steps))` would build,
    those the outbox does not hold yet; returns (id, whether its time has come) of each row
    written, as `rows.outbox_insert` does."""
    plan_ids = list(plan_ids)
    steps = sql_steps(steps)
    windows = windows_by_recipient(steps).get(Recipient.INVESTOR, [])
    notices = [step for step in steps if step.trigger == Trigger.CANCELLED]
    pairs = [(step.code, channel) for step in steps for channel in step.channels]
    if not plan_ids or not (windows or notices) or not pairs:
        return []
    parts = _Parts()
    # The chunk's plans, named once for both subjects.
    among = _among("p.id", plan_ids)
    _window_subject(parts, among, windows, scan_date)
    _notice_subject(parts, among, notices, scan_date)
    parts.add_table("step_channel", "kind, channel", pairs)
    quiet_join, join_params, scheduled, dispatched = _quiet_join(parts, now)
    address = " ".join(
        f"WHEN '{channel}' THEN i.{connection.ops.quote_name(field)}"  # column = name
        for channel, field in CHANNEL_ADDRESS.items()
    )
    subjects = (
        "subjects(investor_id, kind, plan_id, installment_id) AS ("
        + " UNION ALL ".join(parts.subjects)
        + ")"
    )
    sql = f"""
        WITH {", ".join([*parts.tables, subjects, *parts.after_subjects])}
        INSERT INTO {_table_name(Reminder)} ({_COLUMNS})
        SELECT s.investor_id, s.kind, c.channel, s.plan_id, s.installment_id, NULL, %s,
               {scheduled}, %s, 0, '', '', '{{}}', %s, %s, {dispatched}
        FROM subjects s
        JOIN step_channel c ON c.kind = s.kind
        JOIN {_table_name(Investor)} i ON i.id = s.investor_id
        {quiet_join}
        WHERE {_present(f"CASE c.channel {address} END")}
          AND NOT EXISTS (SELECT 1 FROM {_table_name(ChannelOptOut)} o
                          WHERE o.investor_id = i.id AND o.channel = c.channel)
        ON CONFLICT DO NOTHING
        RETURNING id, dispatched_at IS NOT NULL"""
    day = connection.ops.adapt_datefield_value(scan_date)
    at = connection.ops.adapt_datetimefield_value(now)
    # In the order of the statement: the tables, the subjects, the SELECT's columns, the join.
    params = [*parts.table_params, *parts.subject_params, day, at, "pending", run_id, at, at]
    params += join_params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(pk, bool(due)) for pk, due in cursor.fetchall()]


def _quiet_hours(now: dt.datetime) -> tuple[str, list, list[str]]:
    """The table of quiet moments (empty when nobody is inside quiet hours at `now`), its
    parameters, and the quiet channels."""
    channels = list(settings.REMINDER_QUIET_CHANNELS)
    # Every quiet channel has the same moments (not_before does not depend on which).
    moments = quiet_moments(now, settings.REMINDER_QUIET_HOURS, channels[0]) if channels else ()
    if not moments:
        return "", [], channels
    adapt = connection.ops.adapt_datetimefield_value
    table, params = _table(
        "quiet", "zone, moment, due", [(zone, adapt(m), due) for zone, m, due in moments]
    )
    return table, params, channels
