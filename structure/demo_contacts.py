"""The demo's contact log: what the participants logged about their overdue clients in the
last weeks, so the dashboard's promises and first contact, the Structure's last contact and
each investor page's log have real shapes on first start.

It is drawn from what the loaded portfolio says happened. Each stretch a client spent overdue
since `WINDOW_DAYS` ago (from the day after an installment was due unpaid, until it was paid,
the plan cancelled, or today) is one **episode**, worked by the participant above the client
who sees them in their Structure. An episode gets one story (`Kind`): a promise kept (made
before the payment the demo has), a promise broken (its date passed without the money), a
promise pending (for a day from today to the grace deadline), cannot pay, not reachable,
reached and then paid, or not contacted yet. Most first contacts come the morning the client
fell overdue, within the source documents' 10 hours; the others later that day or the next.

Same seed, same day, same portfolio: the same log. The entries are written directly (one bulk
insert) rather than through `services.contact_log_record`: that service judges a promise
against today's debts and deadline, while this log is backdated. Its rules are kept here for
the day of each contact instead: a promised date on or after the contact and on or before that
episode's grace deadline, an amount the client owed then.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import models

from clients.models import Investor
from clients.selectors import nearest_participants
from installments import rules
from installments.models import Installment, Payment, PlanStatus

from . import demo
from .demo_people import CONTACT_NOTES, FOLLOW_UPS
from .models import ContactLogEntry, ContactOutcome, PromiseState

DAY = dt.timedelta(days=1)
# The log goes back this far: the dashboard reads the last 30 days, the investor pages more.
WINDOW_DAYS = 45
PENDING_DAYS = 7  # a pending promise is for a day in the week ahead (within the deadline)
PROMPT_SHARE = 0.8  # first contacts made the morning the client fell overdue
# Minutes after midnight, business time: a prompt first contact is within the 10-hour target.
MORNING = (7 * 60, 9 * 60 + 50)
LATER_THAT_DAY = (10 * 60 + 30, 20 * 60)
WORKING_HOURS = (9 * 60, 20 * 60)


class Kind(StrEnum):
    """An episode's story. The first of each that a participant's clients can take goes to one
    of them, in this order; the rest are drawn by `WEIGHTS`."""

    PENDING = "pending"
    BROKEN = "broken"
    KEPT = "kept"
    UNREACHABLE = "unreachable"
    CANNOT_PAY = "cannot_pay"
    NOT_YET = "not_yet"
    PAID = "paid"  # reached, then paid without a promise


WEIGHTS = {
    Kind.PENDING: 4,
    Kind.BROKEN: 3,
    Kind.KEPT: 5,
    Kind.UNREACHABLE: 2,
    Kind.CANNOT_PAY: 2,
    Kind.NOT_YET: 1,
    Kind.PAID: 2,
}


@dataclass
class Episode:
    """A stretch a client spent overdue: from the day after `due` to `last`, the last day a
    contact can be logged (the day of the payment, the day before the cancellation, or
    yesterday: today's contacts are the participants' own to make)."""

    investor: int
    author: int
    due: dt.date
    amount: Decimal  # the installment
    remaining: Decimal  # still unpaid on it today
    paid_on: dt.date | None
    cancelled: bool
    on_hold: bool
    deadline: dt.date
    last: dt.date
    payments: tuple[tuple[dt.date, Decimal], ...]  # the client's, on every plan

    @property
    def fell(self) -> dt.date:
        return self.due + DAY

    def paid_between(self, first: dt.date, last: dt.date) -> Decimal:
        """What the client paid from `first` to `last`: what a promise is judged by."""
        return sum((a for day, a in self.payments if first <= day <= last), Decimal("0.00"))

    def owed_on(self, day: dt.date, today: dt.date) -> Decimal:
        """What was still unpaid on the installment on `day` (a payment since then went to it
        first: it is the oldest unpaid)."""
        return min(self.amount, self.remaining + self.paid_between(day, today))


@dataclass(frozen=True)
class ContactSpec:
    """One entry of the log, and the state the demo means its promise to have today."""

    investor: int
    author: int
    at: dt.datetime
    outcome: str
    note: str
    promised_on: dt.date | None = None
    promised_amount: Decimal | None = None
    meant: str | None = None

    def entry(self) -> ContactLogEntry:
        return ContactLogEntry(
            investor_id=self.investor,
            author_id=self.author,
            contacted_at=self.at,
            contacted_on=self.at.astimezone(settings.BUSINESS_TIME_ZONE).date(),
            outcome=self.outcome,
            promised_on=self.promised_on,
            promised_amount=self.promised_amount,
            note=self.note,
        )


def demo_contacts(*, seed: int, today: dt.date) -> list[ContactSpec]:
    """Write the demo's contact log (one insert, in the caller's transaction). Returns what
    it wrote, each promise with the state the demo means it to have today."""
    specs = contact_specs(seed=seed, today=today)
    ContactLogEntry.objects.bulk_create([spec.entry() for spec in specs], batch_size=500)
    return specs


def contact_specs(*, seed: int, today: dt.date) -> list[ContactSpec]:
    """The log for the demo portfolio in the database, drawn from `seed`: each participant's
    episodes in turn, their stories dealt as `Kind` says."""
    # A string seed hashes the same in every process (a tuple's would not).
    rng = random.Random(f"{seed}:contact-log")
    by_author: dict[int, list[Episode]] = defaultdict(list)
    for episode in episodes(today):
        by_author[episode.author].append(episode)
    specs: list[ContactSpec] = []
    notes: dict[int, set[str]] = defaultdict(set)  # each client's, not written twice
    for author in sorted(by_author):
        mine = by_author[author]
        rng.shuffle(mine)
        kinds = _deal(rng, mine, today)
        prompt = _prompt_first_contacts(rng, mine, kinds)
        told: set[Kind] = set()
        for episode, kind, soon in zip(mine, kinds, prompt, strict=True):
            log = _Log(rng, episode, today, soon, first=kind not in told)
            log.notes = notes[episode.investor]
            STORIES[kind](log)
            told.add(kind)
            specs += log.specs
    return specs


def _scope() -> models.QuerySet:
    """The demo participants' structures."""
    usernames = [p.username for p in demo.PARTICIPANTS]
    scope = Investor.objects.none()
    for root in Investor.objects.filter(user__username__in=usernames):
        scope |= Investor.objects.in_structure_of(root)
    return scope


def episodes(today: dt.date) -> list[Episode]:
    """Every client's overdue stretches that began in the last `WINDOW_DAYS` days, oldest
    first, with the participant above them (staff-only investors have none and are left out)."""
    investors = list(_scope().only("pk", "path", "earliest_grace_deadline"))
    above = nearest_participants(investors)
    authors = {pk: p.user_id for pk, p in above.items() if p.user_id is not None}
    deadlines = {i.pk: i.earliest_grace_deadline for i in investors}
    start = today - WINDOW_DAYS * DAY
    payments: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for pk, day, amount in (
        Payment.objects.filter(plan__investor__in=_scope().values("pk"), received_on__gte=start)
        .order_by("received_on", "pk")
        .values_list("plan__investor_id", "received_on", "amount")
    ):
        payments[pk].append((day, amount))
    fell = (
        Installment.objects.filter(
            plan__investor__in=_scope().values("pk"), due_date__gte=start, due_date__lt=today
        )
        .filter(models.Q(paid_on__isnull=True) | models.Q(paid_on__gt=models.F("due_date")))
        .exclude(plan__cancelled_on__lte=models.F("due_date"))
        .order_by("plan__investor_id", "due_date", "pk")
    )
    found: list[Episode] = []
    busy_until: dict[int, dt.date | None] = {}  # None: still overdue
    for row in fell.values(
        "plan__investor_id", "due_date", "amount", "paid_amount", "paid_on"
    ).annotate(status=models.F("plan__status"), hold_until=models.F("plan__hold_until")):
        pk = row["plan__investor_id"]
        if pk not in authors or (pk in busy_until and _within(row["due_date"], busy_until[pk])):
            continue
        episode = _episode(row, authors[pk], deadlines[pk], tuple(payments[pk]), today)
        busy_until[pk] = episode.paid_on
        found.append(episode)
    return found


def _within(due: dt.date, busy_until: dt.date | None) -> bool:
    """An installment that fell due while the client was overdue already: the same stretch."""
    return busy_until is None or due < busy_until


def _episode(
    row: Mapping[str, Any],
    author: int,
    deadline: dt.date | None,
    payments: tuple[tuple[dt.date, Decimal], ...],
    today: dt.date,
) -> Episode:
    """The stretch that began the day after `row`'s installment fell due unpaid; `deadline`
    is the client's earliest grace deadline today (the read model's)."""
    cancelled = row["status"] == PlanStatus.CANCELLED
    paid_on = row["paid_on"]
    hold_until = row["hold_until"]
    if paid_on is not None or cancelled or deadline is None:
        # Over (or another plan is the client's earliest): that installment's own deadline.
        deadline = rules.grace_deadline(row["due_date"], hold_until=hold_until)
    last = today - DAY
    if paid_on is not None:
        last = min(last, paid_on)
    elif cancelled:
        last = min(last, deadline)  # the scan cancelled the plan the day after
    return Episode(
        investor=row["plan__investor_id"],
        author=author,
        due=row["due_date"],
        amount=row["amount"],
        remaining=row["amount"] - row["paid_amount"],
        paid_on=paid_on,
        cancelled=cancelled,
        on_hold=hold_until is not None and hold_until >= today,
        deadline=deadline,
        last=last,
        payments=payments,
    )


def possible_kinds(episode: Episode, today: dt.date) -> tuple[Kind, ...]:
    """The stories an episode can tell, in `Kind`'s order."""
    if episode.last < episode.fell:  # fell overdue today: today's calls are still to come
        return (Kind.NOT_YET,)
    if episode.paid_on is not None:
        return (Kind.KEPT, Kind.PAID)
    kinds = {Kind.UNREACHABLE, Kind.CANNOT_PAY, Kind.NOT_YET}
    if episode.fell + DAY <= min(episode.last, episode.deadline):
        kinds.add(Kind.BROKEN)  # a promise made, for a later day that has passed
    if not episode.cancelled and episode.deadline >= today:
        kinds.add(Kind.PENDING)
    return tuple(kind for kind in Kind if kind in kinds)


def _deal(rng: random.Random, mine: list[Episode], today: dt.date) -> list[Kind]:
    """One participant's episodes' stories: every kind their clients can take at least once
    (in `Kind`'s order), then the rest by weight; a client on hold mostly cannot pay."""
    possible = [possible_kinds(episode, today) for episode in mine]
    kinds: list[Kind | None] = [None] * len(mine)
    for kind in Kind:
        index = next(
            (n for n, can in enumerate(possible) if kinds[n] is None and kind in can), None
        )
        if index is not None:
            kinds[index] = kind
    for n, can in enumerate(possible):
        if kinds[n] is None:
            weights = [
                WEIGHTS[k] * (3 if k == Kind.CANNOT_PAY and mine[n].on_hold else 1) for k in can
            ]
            kinds[n] = rng.choices(can, weights)[0]
    return [kind for kind in kinds if kind is not None]


def _prompt_first_contacts(
    rng: random.Random, mine: list[Episode], kinds: list[Kind]
) -> list[bool]:
    """Whether each episode's first contact comes the morning the client fell overdue: mostly;
    of the two contacted episodes that began last (in the dashboard's window when any are),
    one in time and one late."""
    prompt = [rng.random() < PROMPT_SHARE for _ in mine]
    contacted = [n for n, kind in enumerate(kinds) if kind != Kind.NOT_YET]
    latest = sorted(contacted, key=lambda n: mine[n].due, reverse=True)[:2]
    for n, value in zip(latest, (True, False), strict=False):
        prompt[n] = value
    return prompt


class _Log:
    """One episode's entries, in time order, by the participant above the client."""

    def __init__(
        self, rng: random.Random, episode: Episode, today: dt.date, prompt: bool, first: bool
    ):
        self.rng, self.episode, self.today = rng, episode, today
        self.prompt = prompt  # the first contact the morning the client fell overdue
        self.first = first  # the participant's first episode with this story
        self.specs: list[ContactSpec] = []
        self.day: dt.date | None = None
        self.minute = 0
        self.notes: set[str] = set()  # the client's notes so far

    def first_day(self, latest: dt.date) -> dt.date:
        """The first contact's day: the day the client fell overdue or, when not prompt,
        perhaps a day or two later (not after `latest`)."""
        fell = self.episode.fell
        if self.prompt:
            return fell
        return max(fell, min(fell + self.rng.choice((0, 0, 1, 2)) * DAY, latest))

    def next_day(self, day: dt.date, latest: dt.date) -> dt.date:
        """A day or three after `day` for the next attempt, not after `latest`."""
        return max(day, min(day + self.rng.randint(1, 3) * DAY, latest))

    def add(self, day: dt.date, outcome: str, note: str = "", **promise) -> None:
        if not self.specs:
            fell = day == self.episode.fell
            hours = MORNING if fell and self.prompt else LATER_THAT_DAY if fell else WORKING_HOURS
            minute = self.rng.randint(*hours)
        elif day == self.day:
            minute = max(self.minute + 1, min(self.minute + self.rng.randint(40, 150), 1430))
        else:
            minute = self.rng.randint(*WORKING_HOURS)
        self.day, self.minute = day, minute
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=settings.BUSINESS_TIME_ZONE)
        self.specs.append(
            ContactSpec(
                investor=self.episode.investor,
                author=self.episode.author,
                at=midnight + dt.timedelta(minutes=minute),
                outcome=outcome,
                note=note or self._note(outcome),
                **promise,
            )
        )

    def _note(self, outcome: str) -> str:
        """A note for `outcome` this client's log does not have yet, when there is one."""
        fresh = [n for n in CONTACT_NOTES[outcome] if n not in self.notes] or CONTACT_NOTES[outcome]
        note = self.rng.choice(fresh)
        self.notes.add(note)
        return note

    def promise(self, day: dt.date, on: dt.date, amount: Decimal, meant: PromiseState) -> None:
        self.add(day, ContactOutcome.PROMISED, promised_on=on, promised_amount=amount, meant=meant)

    def attempt_first(self, day: dt.date, latest: dt.date, chance: float) -> dt.date:
        """Perhaps no answer on `day` first: the day of the next contact."""
        if day < latest and self.rng.random() < chance:
            self.add(day, ContactOutcome.NO_ANSWER)
            return self.next_day(day, latest)
        return day


def _kept(log: _Log) -> None:
    """A promise made on or before the day the payment came, for that day or a little later
    (within the deadline), of no more than what came: kept."""
    episode, rng = log.episode, log.rng
    if episode.paid_on is None:  # only a paid episode is dealt this story
        return _paid(log)
    day = log.attempt_first(log.first_day(episode.last), episode.last, 0.35)
    on = episode.paid_on + rng.randint(0, 2) * DAY
    on = max(episode.paid_on, min(on, episode.deadline))
    amount = min(episode.amount, episode.paid_between(day, on))
    if amount > 0:
        log.promise(day, on, amount, PromiseState.KEPT)
    else:
        log.add(day, ContactOutcome.REACHED)


def _paid(log: _Log) -> None:
    """Reached (after no answer, perhaps), and the payment came without a promise."""
    episode = log.episode
    day = log.attempt_first(log.first_day(episode.last), episode.last, 0.4)
    log.add(day, ContactOutcome.REACHED)


def _broken(log: _Log) -> None:
    """A promise for a later day, before the deadline, that passed without the money; perhaps
    a follow-up after it."""
    episode, rng = log.episode, log.rng
    last = min(episode.last, episode.deadline)
    day = log.attempt_first(log.first_day(last - DAY), last - DAY, 0.3)
    on = min(day + rng.randint(1, 5) * DAY, last)
    amount = episode.owed_on(day, log.today)
    if episode.paid_between(day, on) >= amount:  # another plan's payments made it up
        log.add(day, ContactOutcome.NO_ANSWER)
        return
    log.promise(day, on, amount, PromiseState.BROKEN)
    if on < episode.last and rng.random() < 0.5:
        outcome, note = rng.choice(FOLLOW_UPS)
        log.add(log.next_day(on, episode.last), outcome, note)


def _pending(log: _Log) -> None:
    """A promise made in the last few days for a day from today to the grace deadline, of what
    is still owed: pending."""
    episode, rng, today = log.episode, log.rng, log.today
    day = log.first_day(episode.last)
    recent = max(day, today - rng.randint(1, 5) * DAY)
    if recent > day or rng.random() < 0.3:
        log.add(day, rng.choice((ContactOutcome.NO_ANSWER, ContactOutcome.REACHED)))
        day = max(recent, log.next_day(day, episode.last))
    on = min(today + rng.randint(0, PENDING_DAYS) * DAY, episode.deadline)
    amount = episode.owed_on(day, today)
    if episode.paid_between(day, today) >= amount:  # another plan's payments made it up
        log.add(day, ContactOutcome.NO_ANSWER)
        return
    log.promise(day, on, amount, PromiseState.PENDING)


def _cannot_pay(log: _Log) -> None:
    episode = log.episode
    day = log.attempt_first(log.first_day(episode.last), episode.last, 0.3)
    log.add(day, ContactOutcome.CANNOT_PAY)


def _unreachable(log: _Log) -> None:
    """One to three unanswered calls a few days apart; the number may turn out wrong (it does
    in each participant's first such story)."""
    episode, rng = log.episode, log.rng
    day = log.first_day(episode.last)
    log.add(day, ContactOutcome.NO_ANSWER)
    for _ in range(rng.randint(0, 2)):
        if day < episode.last:
            day = log.next_day(day, episode.last)
            log.add(day, ContactOutcome.NO_ANSWER)
    if log.first or rng.random() < 0.25:
        log.add(day, ContactOutcome.WRONG_NUMBER)


def _not_yet(log: _Log) -> None:
    """Not contacted yet."""


STORIES: dict[Kind, Callable[[_Log], None]] = {
    Kind.PENDING: _pending,
    Kind.BROKEN: _broken,
    Kind.KEPT: _kept,
    Kind.UNREACHABLE: _unreachable,
    Kind.CANNOT_PAY: _cannot_pay,
    Kind.NOT_YET: _not_yet,
    Kind.PAID: _paid,
}


def log_summary(today: dt.date) -> str:
    """The demo's contact log in a line: entries, and the promises by their state today."""
    entries = ContactLogEntry.objects.filter(investor__in=_scope().values("pk"))
    states = dict.fromkeys((PromiseState.KEPT, PromiseState.BROKEN, PromiseState.PENDING), 0)
    promised = entries.filter(outcome=ContactOutcome.PROMISED).with_promise_state(today)
    for state in promised.values_list("promise_state", flat=True):
        states[state] += 1
    return f"{entries.count()} entries; promises " + ", ".join(
        f"{state} {count}" for state, count in states.items()
    )
