"""The demo portfolio, as plain data: India and Nepal, three participants, every plan state
(the people themselves come from `demo_people`).

`build_portfolio()` is pure: from a seed, a size and "today" it draws the catalogue, the
participants' investor trees and, for every plan, a scenario (on track, due soon, overdue with
a chosen number of days left, past its deadline, on hold, cancelled, completed with bonuses,
restored) written out as dates and payments. The `load_demo` command replays it through the
services, so the share ledger, the audit trail and every plan's oldest unpaid due date are
what production would have written. Same seed, same size, same day: the same portfolio.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Iterator, Sequence
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from installments import rules

from .demo_people import HOLD_REASONS, RESTORE_REASONS, Contacts
from .demo_specs import (
    InvestorSpec,
    PackageSpec,
    ParticipantSpec,
    PaymentSpec,
    PlanSpec,
    Portfolio,
    PromotionSpec,
    StageSpec,
)

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "demo-admin-2026"
ADMIN_EMAIL = "admin@example.com"
PARTICIPANT_PASSWORD = "demo-participant-2026"
# The demo investor: one of the demo participant's direct clients with an overdue payment
# and a few days left, who signs in to their own plans.
INVESTOR_USERNAME = "investor"
INVESTOR_PASSWORD = "demo-investor-2026"
# Clients of the demo participant who asked for help (overdue and not), with what they said.
HELP_MESSAGES = (
    ("My salary comes on the 20th: can I pay then?", "WhatsApp after 6 pm"),
    ("I do not understand the bonus.", "Phone, mornings"),
    ("", "Any time"),
)
REFERENCE_PREFIX = "DEMO-"
# The history's nightly scans (replayed as cancellations only) run until this many days ago.
# `load_demo` then runs last night's scan for real, of yesterday's date: it cancels the plans
# whose deadline was the day before (days left -2 today) and queues its reminders; the plans
# whose deadline was yesterday stay past their deadline (days left -1), awaiting tonight's.
SCAN_PAUSE_DAYS = 3
DAY = dt.timedelta(days=1)


PARTICIPANTS = (
    ParticipantSpec("priya", "Priya Sharma", "IN", "hi", 0.45),
    ParticipantSpec("arjun", "Arjun Mehta", "IN", "en", 0.30),
    ParticipantSpec("sita", "Sita Gurung", "NP", "ne", 0.25),
)
DEMO_PARTICIPANT = PARTICIPANTS[0].username


PACKAGES = (
    PackageSpec("Starter", Decimal("300.00"), 300, 3),
    PackageSpec("Saver", Decimal("1000.00"), 1000, 6),  # 166.66 × 5 + 166.70
    PackageSpec("Standard", Decimal("1200.00"), 1200, 12),
    PackageSpec("Premium", Decimal("3000.00"), 3000, 10),
    PackageSpec("Gold", Decimal("6000.00"), 6000, 12, "1/2"),
)
PACKAGE_WEIGHTS = (25, 20, 30, 15, 10)
# (name, share price, months back): every purchase date in the portfolio has one in force.
STAGES = (
    ("Stage 1 · Founders", "0.80", 30),
    ("Stage 2 · Growth", "0.90", 14),
    ("Stage 3 · Expansion", "1.00", 4),
)
PROMOTION_NAMES = (
    "On-time payer bonus",
    "Double payment bonus",
    "Early repayment bonus",
    "Diwali double payment",
)


class Scenario(StrEnum):
    """Where a plan's history leads by today. Most important first: a small portfolio gets
    one of each in this order before the weights share out the rest."""

    OVERDUE = "overdue"  # days left 18..0
    ON_TRACK = "on_track"
    CANCELLED = "cancelled"
    COMPLETED_ON_TIME = "completed_on_time"
    DUE_SOON = "due_soon"  # next installment due in 0..3 days
    PAST_DEADLINE = "past_deadline"  # days left −1..−2 (−2: cancelled by last night's scan)
    ON_HOLD = "on_hold"
    COMPLETED_EARLY = "completed_early"
    COMPLETED_DOUBLE = "completed_double"
    COMPLETED_LATE = "completed_late"
    RESTORED = "restored"
    AUTO_RESTORED = "auto_restored"
    RESTORED_PAID = "restored_paid"


# Percent of the plans; the restored kinds are rare (about one each per 150 plans).
WEIGHTS = dict(zip(Scenario, (22, 20, 15, 8, 7, 6, 3, 5, 5, 6, 0, 0, 0), strict=True))
RARE = (Scenario.RESTORED, Scenario.AUTO_RESTORED, Scenario.RESTORED_PAID)
# Days since the oldest unpaid due date, dealt from a cycle per structure so that every
# participant sees the whole spread of days left.
OVERDUE_DAYS = {
    Scenario.OVERDUE: range(1, rules.GRACE_DAYS + 1),
    Scenario.PAST_DEADLINE: range(rules.GRACE_DAYS + 1, rules.GRACE_DAYS + SCAN_PAUSE_DAYS),
}


def _catalogue(today: dt.date) -> tuple[tuple[StageSpec, ...], tuple[PromotionSpec, ...]]:
    month = today.replace(day=1)
    stages = tuple(
        StageSpec(name, Decimal(price), rules.add_months(month, -back))
        for name, price, back in STAGES
    )
    start = stages[0].starts_on
    # The last Diwali season that is over: a past promotion, larger than the standing one.
    diwali = today.year if dt.date(today.year, 11, 10) < today else today.year - 1
    season = (dt.date(diwali, 10, 20), dt.date(diwali, 11, 10))
    on_time, double, early, seasonal = PROMOTION_NAMES
    promotions = (
        PromotionSpec(on_time, "on_time", Decimal("5"), start),
        PromotionSpec(double, "double_payment", Decimal("2"), start),
        PromotionSpec(early, "early_repayment", Decimal("3"), start),
        PromotionSpec(f"{seasonal} {diwali}", "double_payment", Decimal("4"), *season),
    )
    return stages, promotions


def _quotas(total: int, rng: random.Random) -> list[Scenario]:
    """`total` scenarios: one of each first (by importance), then by weight; shuffled."""
    chosen = list(Scenario)[:total]
    left = total - len(chosen)
    for scenario in RARE:
        extra = min(left, max(total // 150 - 1, 0))
        chosen += [scenario] * extra
        left -= extra
    exact = {s: left * w / sum(WEIGHTS.values()) for s, w in WEIGHTS.items()}
    counts = {s: int(x) for s, x in exact.items()}
    by_remainder = sorted(exact, key=lambda s: exact[s] - counts[s], reverse=True)
    for scenario in by_remainder[: left - sum(counts.values())]:
        counts[scenario] += 1
    for scenario, count in counts.items():
        chosen += [scenario] * count
    rng.shuffle(chosen)
    return chosen


class _Planner:
    """Writes a scenario out as a plan's dates and payments, relative to `today`.

    Payments in a history are never more than 12 days late: past the grace window the
    history's own nightly scans would have cancelled the plan.
    """

    def __init__(self, rng: random.Random, today: dt.date, stage_start: dt.date):
        self.rng = rng
        self.today = today
        self.stage_start = stage_start
        self.earliest = stage_start + 10 * DAY  # a purchase a few days before is in a stage
        self.packages = {p.name: p for p in PACKAGES}

    def _days(self, low: int, high: int) -> dt.timedelta:
        return self.rng.randint(low, high) * DAY

    def _between(self, low: dt.date, high: dt.date) -> dt.date:
        return low if high <= low else low + self._days(0, (high - low).days)

    def _shuffled(self, values: Sequence[int]) -> list[int]:
        values = list(values)
        self.rng.shuffle(values)
        return values

    def _anchored(self, anchor: dt.date, indexes: Sequence[int]) -> tuple[int, dt.date] | None:
        """A first due date that puts installment `index` (0-based) on `anchor`, for the first
        index that fits: the 31st cannot follow a month whose due date was clamped to the 30th."""
        for index in indexes:
            first = rules.add_months(anchor, -index)
            if first >= self.earliest and rules.add_months(first, index) == anchor:
                return index, first
        return None

    def _terms(self, package: PackageSpec, first: dt.date):
        schedule = rules.schedule(
            price=package.price, count=package.installment_count, first_due_date=first
        )
        if first > self.today:
            purchased = self.today - self._days(0, 6)
        else:
            purchased = first - self._days(0, 10)
        return max(min(purchased, self.today), self.stage_start), schedule

    def _pay(self, installments, floor: dt.date, *, late: float = 0.0, late_at=()):
        """One payment per installment, a few days early at most or 1 to 12 days late."""
        payments = []
        for index, installment in enumerate(installments):
            if index in late_at or self.rng.random() < late:
                day = installment.due_date + self._days(1, 12)
            else:
                day = installment.due_date - self.rng.choice((0, 0, 0, 0, 1, 1, 2, 3, 5, 7)) * DAY
            floor = min(self.today, max(floor, day))
            payments.append(PaymentSpec(installment.amount, floor))
        return payments

    def _part(self, installment, payments, low: dt.date, high: dt.date) -> None:
        """Part of an installment (a quarter to 60 %), paid between `low` and `high`."""
        share = Decimal(self.rng.choice(("0.25", "0.40", "0.50", "0.60")))
        amount = (installment.amount * share).quantize(rules.CENT, rounding=ROUND_DOWN)
        low = max(low, payments[-1].received_on) if payments else low
        payments.append(PaymentSpec(amount, self._between(low, high)))

    def plan(self, investor: int, scenario: Scenario, package: str, days: int = 0) -> PlanSpec:
        build = getattr(self, f"_{scenario.value}")
        args = (days,) if scenario in OVERDUE_DAYS else ()
        spec = build(self.packages[package], *args)
        spec.investor, spec.scenario = investor, scenario.value
        return spec

    @staticmethod
    def _spec(package, purchased, first, payments, **extra) -> PlanSpec:
        return PlanSpec(0, package.name, "", purchased, first, payments, **extra)

    def _ahead(self, package: PackageSpec, lead: int, prepay: float) -> PlanSpec:
        """Paid up to date; the next installment is due in `lead` days."""
        indexes = [*self._shuffled(range(1, package.installment_count)), 0]
        index, first = self._anchored(self.today + lead * DAY, indexes)
        purchased, schedule = self._terms(package, first)
        payments = self._pay(schedule[:index], purchased, late=0.15)
        if self.rng.random() < prepay:
            low = max(purchased, self.today - 12 * DAY)
            self._part(schedule[index], payments, low, self.today)
        return self._spec(package, purchased, first, payments)

    def _on_track(self, package):
        return self._ahead(package, self.rng.randint(4, 27), prepay=0.2)

    def _due_soon(self, package):
        return self._ahead(package, self.rng.randint(0, 3), prepay=0.1)

    def _behind(self, package: PackageSpec, days: int, indexes=None, late=0.2):
        """Every installment before the one due `days` ago paid; that one not."""
        anchor = self.today - days * DAY
        if indexes is None:
            never_paid = self.rng.random() < 0.15
            indexes = [0] if never_paid else self._shuffled(range(1, package.installment_count))
        index, first = self._anchored(anchor, [*indexes, 0])
        purchased, schedule = self._terms(package, first)
        payments = self._pay(schedule[:index], purchased, late=late)
        return anchor, schedule[index], purchased, first, schedule, payments

    def _overdue(self, package, days):
        anchor, oldest, purchased, first, _, payments = self._behind(package, days)
        if self.rng.random() < 0.3:
            self._part(oldest, payments, max(purchased, anchor - 3 * DAY), self.today)
        return self._spec(package, purchased, first, payments)

    _past_deadline = _overdue

    def _on_hold(self, package):
        spec = self._overdue(package, self.rng.randint(6, 45))
        spec.hold = (self.today + self._days(5, 35), self.rng.choice(HOLD_REASONS))
        return spec

    def _cancelled(self, package):
        """Cancelled by the nightly scan the day after its grace deadline; shares kept."""
        days = self.rng.randint(rules.GRACE_DAYS + 1 + SCAN_PAUSE_DAYS, 420)
        indexes = self._shuffled(range(package.installment_count))
        anchor, oldest, purchased, first, _, payments = self._behind(package, days, indexes, 0.3)
        if self.rng.random() < 0.3:
            self._part(oldest, payments, max(purchased, anchor - 3 * DAY), anchor + 15 * DAY)
        scan = anchor + (rules.GRACE_DAYS + 1) * DAY
        return self._spec(package, purchased, first, payments, cancel_scan=scan)

    def _restored(self, package, pay_up: bool = False):
        """Cancelled, then restored by an admin today with a reason (a fresh grace window)."""
        # 30..90 days back holds at most four due dates: five or more left keeps it active.
        indexes = self._shuffled(range(1, package.installment_count - 4))
        anchor, _, purchased, first, schedule, payments = self._behind(
            package, self.rng.randint(30, 90), indexes
        )
        reason = self.rng.choice(RESTORE_REASONS)
        scan = anchor + (rules.GRACE_DAYS + 1) * DAY
        spec = self._spec(
            package, purchased, first, payments, cancel_scan=scan, restore_reason=reason
        )
        if pay_up:  # and the client caught up the same day
            owed = sum(i.amount for i in schedule if i.due_date < self.today) - sum(
                p.amount for p in payments
            )
            spec.after_restore.append(PaymentSpec(owed, self.today))
        return spec

    def _restored_paid(self, package):
        return self._restored(package, pay_up=True)

    def _auto_restored(self, package):
        """Cancelled by the scan; then a transfer received within the grace window is
        recorded late, and the plan comes back by itself."""
        days = self.rng.randint(rules.GRACE_DAYS + 2 + SCAN_PAUSE_DAYS, 45)
        indexes = self._shuffled(range(package.installment_count - 1))
        anchor, oldest, purchased, first, _, payments = self._behind(package, days, indexes, 0)
        late = PaymentSpec(oldest.amount, anchor + self._days(3, rules.GRACE_DAYS))
        scan = anchor + (rules.GRACE_DAYS + 1) * DAY
        return self._spec(
            package, purchased, first, payments, cancel_scan=scan, late_payments=[late]
        )

    def _ending(self, package: PackageSpec, last: dt.date):
        """Terms of a plan whose last installment is due on `last` (or up to 3 days before:
        the 28th exists in every month)."""
        for _ in range(4):
            found = self._anchored(last, [package.installment_count - 1])
            if found:
                return (*self._terms(package, found[1]), found[1])
            last -= DAY
        raise AssertionError(f"no schedule ends on {last}")  # pragma: no cover

    def _completed_on_time(self, package):
        purchased, schedule, first = self._ending(package, self.today - self._days(0, 420))
        payments = self._pay(schedule[:-1], purchased)
        # The last on its due date: a day early would also earn the early-repayment bonus.
        payments.append(PaymentSpec(schedule[-1].amount, schedule[-1].due_date))
        return self._spec(package, purchased, first, payments)

    def _completed_late(self, package):
        count = package.installment_count
        purchased, schedule, first = self._ending(package, self.today - self._days(15, 420))
        late_at = {*self.rng.sample(range(count - 1), 2), count - 1}
        payments = self._pay(schedule, purchased, late_at=late_at)
        return self._spec(package, purchased, first, payments)

    def _completed_double(self, package):
        """One payment pays a late installment together with the next one."""
        count = package.installment_count
        purchased, schedule, first = self._ending(package, self.today - self._days(0, 420))
        double = self.rng.randint(0, count - 3)
        payments = self._pay(schedule[:double], purchased)
        day = schedule[double].due_date + self._days(3, 12)
        payments.append(PaymentSpec(schedule[double].amount + schedule[double + 1].amount, day))
        payments += self._pay(schedule[double + 2 : -1], day)
        payments.append(PaymentSpec(schedule[-1].amount, schedule[-1].due_date))
        return self._spec(package, purchased, first, payments)

    def _completed_early(self, package):
        """Installments paid in time, then the whole remaining balance before the last due
        date: early-repayment, double-payment and (if never late) on-time bonuses."""
        payoff = self.today - self._days(0, 200)
        indexes = range(1, package.installment_count - 1)
        found = None
        while found is None:  # the next due date after the payoff, not clamped
            found = self._anchored(payoff + self._days(1, 25), self._shuffled(indexes))
        index, first = found
        purchased, schedule = self._terms(package, first)
        late_at = {self.rng.randrange(index - 1)} if index >= 2 and self.rng.random() < 0.3 else ()
        payments = self._pay(schedule[:index], purchased, late_at=late_at)
        payments.append(PaymentSpec(sum(i.amount for i in schedule[index:]), payoff))
        return self._spec(package, purchased, first, payments)


def _tree(rng, contacts, root: InvestorSpec, size: int, country: str, keys: Iterator[int]):
    """`size` investors under `root`: a chain of recruiters down to the deepest level
    (9 to 12), then everyone else under sponsors drawn by how actively they recruit."""
    deepest = rng.randint(9, 12)
    nodes, weights, made = [root], [6.0], []

    def add(sponsor: InvestorSpec) -> None:
        where = country if rng.random() < 0.9 else {"IN": "NP", "NP": "IN"}[country]
        level = sponsor.level + 1
        spec = InvestorSpec(
            next(keys), sponsor=sponsor.key, root=root.key, level=level, **contacts.person(where)
        )
        recruits = 0.0 if rng.random() < 0.45 else min(rng.paretovariate(1.3), 12.0)
        nodes.append(spec)
        weights.append(0.0 if level >= deepest else recruits)
        made.append(spec)

    for _ in range(min(size, deepest)):
        add(nodes[-1])
    cumulative = list(itertools.accumulate(weights))
    while len(made) < size:
        add(rng.choices(nodes, cum_weights=cumulative)[0])
        cumulative.append(cumulative[-1] + weights[-1])
    return made


def build_portfolio(*, seed: int, investors: int, today: dt.date) -> Portfolio:
    """The whole demo portfolio as plain data, `investors` of them under the participants."""
    rng = random.Random(seed)
    contacts = Contacts(rng)
    stages, promotions = _catalogue(today)
    keys = itertools.count(1)
    roots = [
        InvestorSpec(
            next(keys),
            sponsor=None,
            root=0,
            level=0,
            username=p.username,
            **{**contacts.person(p.country, p.name), "language": p.language},
        )
        for p in PARTICIPANTS
    ]
    sizes = [int(investors * p.share) for p in PARTICIPANTS]
    sizes[0] += investors - sum(sizes)
    people = list(roots)
    for participant, root, size in zip(PARTICIPANTS, roots, sizes, strict=True):
        people += _tree(rng, contacts, root, size, participant.country, keys)

    planner = _Planner(rng, today, stages[0].starts_on)
    plans = [  # the participants invest too
        planner.plan(roots[0].key, Scenario.COMPLETED_ON_TIME, "Gold"),
        planner.plan(roots[1].key, Scenario.ON_TRACK, "Premium"),
        planner.plan(roots[2].key, Scenario.DUE_SOON, "Standard"),
    ]
    owners = []
    for person in people[len(roots) :]:  # a few have no plan yet, some have two
        draw = rng.random()
        owners += [person] * (0 if draw < 0.04 else 2 if draw < 0.22 else 1)
    cycles: dict[tuple[int, Scenario], Iterator[int]] = {}
    for owner, scenario in zip(owners, _quotas(len(owners), rng), strict=True):
        packages = PACKAGES
        if scenario in RARE:  # long enough to stay active after the restore
            packages = tuple(p for p in PACKAGES if p.installment_count >= 6)
        package = rng.choices(packages, PACKAGE_WEIGHTS[-len(packages) :])[0].name
        days = 0
        if scenario in OVERDUE_DAYS:
            if (owner.root, scenario) not in cycles:
                values = list(OVERDUE_DAYS[scenario])
                rng.shuffle(values)
                cycles[(owner.root, scenario)] = itertools.cycle(values)
            days = next(cycles[(owner.root, scenario)])
        plans.append(planner.plan(owner.key, scenario, package, days))
    return Portfolio(today, stages, promotions, people, plans)
