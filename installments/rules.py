"""The exact rules (docs/rules.md): schedule, allocation, grace, shares and bonuses.

Pure functions over dates, Decimals, Fractions and ints. No ORM, no clock: "today" is always
an argument, computed once at the edge in the business time zone.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from fractions import Fraction

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# The grace window: days after the oldest unpaid due date on which paying still saves a plan.
GRACE_DAYS = 19
# Days left at or under which an overdue investor is in their last days: the Structure's
# status and summary, the participant's digest.
LAST_DAYS = 3
DEFAULT_FINAL_PAYMENT_FRACTION = Fraction(2, 3)
ON_TIME_BONUS_PERCENT = Decimal("5")
# Larger than any real payment or package: anything above is a typo, not money.
MAX_AMOUNT = Decimal("9999999999.99")
# More shares than any package sells: a typo. It also keeps a plan's ledger (its shares and
# their bonuses) far inside the 64-bit sums every database adds them up with.
MAX_PACKAGE_SHARES = 1_000_000_000
FRACTION_SHAPE = re.compile(r"\d{1,15}(?:[./]\d{1,15})?")
MAX_FRACTION_TEXT = 32  # the stored "numerator/denominator"
# How far from today a plan's dates may reach: further is a slip of the keyboard, not a plan.
FIRST_DUE_YEARS_BACK, FIRST_DUE_YEARS_AHEAD, HOLD_DAYS_MAX = 10, 1, 366


def gettext_noop(message: str) -> str:
    """Marks a message for the translation catalogue (`makemessages` collects it); the
    interface that shows a RuleError translates it then (`backoffice.lib.errors.shown`)."""
    return message


class RuleError(ValueError):
    """Input the rules refuse; the message is written for the person who gave it.

    `message` is the catalogue's text with %(name)s placeholders and `params` their values, so
    an interface writes it in the reader's language; `str()` is the English text."""

    def __init__(self, message: str, **params: object):
        self.message, self.params = message, params
        super().__init__(message % params if params else message)


# ---------------------------------------------------------------------------- money


MONEY_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def parse_money(value: object) -> Decimal:
    """A positive amount with at most two decimal places, or RuleError.

    Floats are refused outright: 0.1 + 0.2 is not money.
    """
    if isinstance(value, float | bool):
        raise RuleError(gettext_noop("Amounts must be given as decimal strings such as '300.00'."))
    text = str(value).strip()
    # Plain ASCII digits only: Decimal() also reads "1E2", "1e-2" and other scripts' digits
    # ("١٠٠"), none of which a person writes for an amount of money.
    # The text as it was written (a form may already have made it a Decimal('1E+2')).
    if not MONEY_TEXT.fullmatch(text):
        raise RuleError(gettext_noop("“%(text)s” is not an amount of money."), text=text)
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise RuleError(gettext_noop("“%(text)s” is not an amount of money."), text=text) from None
    if not amount.is_finite():
        raise RuleError(gettext_noop("“%(text)s” is not an amount of money."), text=text)
    # Size first: quantizing 1e400 to cents would overflow the decimal context.
    if amount <= 0:
        raise RuleError(gettext_noop("The amount must be greater than zero."))
    if amount > MAX_AMOUNT:
        raise RuleError(gettext_noop("The amount must not exceed %(most)s."), most=MAX_AMOUNT)
    if amount != amount.quantize(CENT, rounding=ROUND_DOWN):
        raise RuleError(gettext_noop("Amounts have at most two decimal places."))
    return amount.quantize(CENT)


# ---------------------------------------------------------------------------- schedule


def add_months(anchor: dt.date, months: int) -> dt.date:
    """The same day of the month `months` later, or that month's last day if it is shorter.

    Always counted from the anchor, never from the previous result, so Jan 31 gives
    Feb 28/29 and then Mar 31 again.
    """
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise RuleError(gettext_noop("The schedule would run past the end of the calendar."))
    last_day = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(anchor.day, last_day))


@dataclass(frozen=True)
class ScheduledInstallment:
    number: int
    due_date: dt.date
    amount: Decimal


def split_amount(total: Decimal, parts: int) -> list[Decimal]:
    """`total / parts` rounded down to the cent; the remainder goes to the last part."""
    if parts < 1:
        raise RuleError(gettext_noop("There must be at least one installment."))
    share = (total / parts).quantize(CENT, rounding=ROUND_DOWN)
    return [share] * (parts - 1) + [total - share * (parts - 1)]


def check_installment_count(price: Decimal, count: int) -> None:
    """Every installment of a package is at least one cent.

    A price of 0.01 in 24 installments would schedule 23 installments of 0.00: overdue from
    the start, never payable, and a plan paid in full that the scan then cancels.
    """
    if count < 1:
        raise RuleError(gettext_noop("There must be at least one installment."))
    if price < CENT * count:
        raise RuleError(
            gettext_noop(
                "A price of %(price)s cannot be split into %(count)s installments of at least "
                "%(cent)s: at most %(most)s installments."
            ),
            price=price,
            count=count,
            cent=CENT,
            most=int(price / CENT),
        )


def schedule(*, price: Decimal, count: int, first_due_date: dt.date) -> list[ScheduledInstallment]:
    """Installment k (1..count) is due k−1 months after the first due date."""
    check_installment_count(price, count)
    return [
        ScheduledInstallment(number=k, due_date=add_months(first_due_date, k - 1), amount=amount)
        for k, amount in enumerate(split_amount(price, count), start=1)
    ]


def first_due_date_check(first_due_date: dt.date, today: dt.date) -> None:
    """In the past brings in an existing portfolio; too far back or ahead is a RuleError."""
    earliest = add_months(today, -12 * FIRST_DUE_YEARS_BACK)
    latest = add_months(today, 12 * FIRST_DUE_YEARS_AHEAD)
    if not earliest <= first_due_date <= latest:
        raise RuleError(
            gettext_noop("A first due date must be from %(earliest)s to %(latest)s."),
            earliest=earliest,
            latest=latest,
        )


def hold_check(until: dt.date, today: dt.date) -> None:
    """A hold lasts until today or later, and at most HOLD_DAYS_MAX days (RuleError)."""
    if until < today:
        raise RuleError(
            gettext_noop("A hold must last until today or later, not %(until)s."), until=until
        )
    latest = today + dt.timedelta(days=HOLD_DAYS_MAX)
    if until > latest:
        raise RuleError(
            gettext_noop("A hold lasts %(days)s days at the most: until %(latest)s."),
            days=HOLD_DAYS_MAX,
            latest=latest,
        )


# ---------------------------------------------------------------------------- allocation


@dataclass(frozen=True)
class Outstanding:
    """What is still owed on one installment."""

    key: int
    due_date: dt.date
    unpaid: Decimal


def allocate(amount: Decimal, outstanding: Sequence[Outstanding]) -> list[tuple[int, Decimal]]:
    """Spread a payment over installments, oldest due date first.

    Returns (key, amount) pairs. Refuses a payment larger than the remaining balance:
    such money belongs to no installment.
    """
    balance = sum((item.unpaid for item in outstanding), Decimal("0"))
    if amount > balance:
        raise RuleError(
            gettext_noop(
                "The payment of %(amount)s is larger than the remaining balance of %(balance)s."
            ),
            amount=amount,
            balance=balance,
        )
    allocations: list[tuple[int, Decimal]] = []
    left = amount
    for item in sorted(outstanding, key=lambda o: (o.due_date, o.key)):
        if left <= 0:
            break
        portion = min(left, item.unpaid)
        if portion > 0:
            allocations.append((item.key, portion))
            left -= portion
    return allocations


# ---------------------------------------------------------------------------- grace


def is_overdue(due_date: dt.date, today: dt.date) -> bool:
    """An unpaid installment is overdue from the day after its due date."""
    return today > due_date


def grace_deadline(
    oldest_unpaid_due_date: dt.date,
    *,
    hold_until: dt.date | None = None,
    extended_to: dt.date | None = None,
) -> dt.date:
    """The last calendar day on which paying saves the plan.

    The oldest unpaid due date + 19 days, pushed later by a hold (no cancellation until its
    end) or by a restore (which grants a fresh window from the day of the restore).
    """
    deadline = oldest_unpaid_due_date + dt.timedelta(days=GRACE_DAYS)
    return max(d for d in (deadline, hold_until, extended_to) if d is not None)


def restored_grace_until(today: dt.date) -> dt.date:
    """A restore grants a fresh grace window from the day of the restore."""
    return today + dt.timedelta(days=GRACE_DAYS)


def days_left(deadline: dt.date, today: dt.date) -> int:
    """Negative once the deadline has passed and the plan is not yet cancelled."""
    return (deadline - today).days


def in_last_days(deadline: dt.date, today: dt.date) -> bool:
    """At most LAST_DAYS days left before the grace deadline (or already past it)."""
    return days_left(deadline, today) <= LAST_DAYS


def overdue_amount(outstanding: Iterable[Outstanding], today: dt.date) -> Decimal:
    """What is owed on the installments overdue on `today`: their unpaid parts, summed."""
    return sum((o.unpaid for o in outstanding if is_overdue(o.due_date, today)), ZERO)


def overdue_amount_span(
    outstanding: Iterable[Outstanding], today: dt.date
) -> tuple[Decimal, dt.date | None, dt.date | None]:
    """The overdue amount on `today`, and the first and last days it is the same: it changes
    only when another unpaid installment falls overdue, so it holds from the day after the
    latest unpaid due date before today to the next unpaid due date on or after today (an
    installment is overdue the day after it is due). None: open on that side."""
    owed = list(outstanding)
    before = [o.due_date for o in owed if is_overdue(o.due_date, today)]
    after = [o.due_date for o in owed if not is_overdue(o.due_date, today)]
    first = max(before) + dt.timedelta(days=1) if before else None
    return overdue_amount(owed, today), first, min(after, default=None)


# The overdue buckets by days overdue (the API's names), each with its first day; the last
# runs to the grace deadline (and past it under a hold or an extension).
PAST_DEADLINE = "past_deadline"
BUCKET_STARTS = (("1-7", 1), ("8-14", 8), (f"15-{GRACE_DAYS}", 15))
BUCKETS = (*(name for name, _ in BUCKET_STARTS), PAST_DEADLINE)


def days_overdue(oldest_overdue_due_date: dt.date, today: dt.date) -> int:
    """Days since an overdue investor's oldest overdue due date (1 on the first day overdue)."""
    return (today - oldest_overdue_due_date).days


def bucket_of(*, days_overdue: int, days_left: int) -> str:
    """An overdue investor's bucket: past the deadline (negative days left: awaiting the scan),
    else by days overdue. A hold can keep an investor more than the grace days overdue without
    passing the deadline: they stay in the last bucket."""
    if days_left < 0:
        return PAST_DEADLINE
    for name, start in reversed(BUCKET_STARTS):
        if days_overdue >= start:
            return name
    return BUCKET_STARTS[0][0]


def bucket_days(bucket: str) -> tuple[int, int | None]:
    """The first and last days overdue of a bucket other than past the deadline (None: no
    last day)."""
    starts = [start for _, start in BUCKET_STARTS]
    index = [name for name, _ in BUCKET_STARTS].index(bucket)
    last = starts[index + 1] - 1 if index + 1 < len(starts) else None
    return starts[index], last


def scan_cancels(deadline: dt.date, scan_date: dt.date) -> bool:
    """The first scan whose date is after the grace deadline cancels the plan."""
    return scan_date > deadline


def latest_saveable_due_date(scan_date: dt.date) -> dt.date:
    """A plan whose oldest unpaid installment is due before this date is past its natural
    grace window on `scan_date` (the scan's index range predicate)."""
    return scan_date - dt.timedelta(days=GRACE_DAYS)


# ---------------------------------------------------------------------------- shares


_NOT_A_FRACTION = gettext_noop("“%(text)s” is not a fraction such as '2/3' or '0.5'.")


def parse_fraction(value: object) -> Fraction:
    """The final-payment fraction F, exact: "2/3" or a decimal string such as "0.5".

    Floats are refused: 0.6667 would credit 99 shares where 100 are due.
    """
    if isinstance(value, Fraction):
        fraction = value
    elif isinstance(value, float | bool):
        raise RuleError(gettext_noop("Give the fraction as a string such as '2/3' or '0.5'."))
    else:
        text = str(value).strip()
        # Shape first: Fraction() also takes exponents, and "1e-999999999" would build a
        # billion-digit number before any range check.
        if not FRACTION_SHAPE.fullmatch(text):
            raise RuleError(_NOT_A_FRACTION, text=text[:40])
        try:
            fraction = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise RuleError(_NOT_A_FRACTION, text=text) from None
    if not 0 <= fraction <= 1:
        raise RuleError(gettext_noop("The final-payment fraction must be between 0 and 1."))
    if len(format_fraction(fraction)) > MAX_FRACTION_TEXT:
        raise RuleError(gettext_noop("The final-payment fraction is too long; use a simpler one."))
    return fraction


def format_fraction(fraction: Fraction) -> str:
    return f"{fraction.numerator}/{fraction.denominator}"


def progressive_shares(
    *, shares: int, final_fraction: Fraction, paid: Decimal, price: Decimal
) -> int:
    """Progressive shares earned once `paid` of `price` has been paid:
    floor(S × (1 − F) × paid / P), computed with exact rationals."""
    if price <= 0:
        return 0
    return math.floor(shares * (1 - final_fraction) * Fraction(paid) / Fraction(price))


@dataclass(frozen=True)
class ShareCredit:
    progressive: int
    final: int


def shares_for_payment(
    *,
    shares: int,
    final_fraction: Fraction,
    price: Decimal,
    paid_before: Decimal,
    paid_after: Decimal,
    base_credited: int,
) -> ShareCredit:
    """The shares one payment credits.

    `base_credited` is what the plan's ledger already holds, bonuses excluded. The payment
    that completes the plan credits everything still missing; any other credits the growth
    of the progressive entitlement (never negative: the ledger only credits).
    """
    if paid_after >= price:
        return ShareCredit(progressive=0, final=max(shares - base_credited, 0))
    earned = progressive_shares(
        shares=shares, final_fraction=final_fraction, paid=paid_after, price=price
    )
    return ShareCredit(progressive=max(earned - base_credited, 0), final=0)


def bonus_shares(shares: int, percent: Decimal) -> int:
    """A bonus of `percent` % of the plan's shares, rounded down to a whole share."""
    return math.floor(Fraction(shares) * Fraction(percent) / 100)


# ---------------------------------------------------------------------------- promotions


@dataclass(frozen=True)
class PaidInstallment:
    due_date: dt.date
    amount: Decimal
    paid_on: dt.date | None


def earns_on_time_bonus(installments: Iterable[PaidInstallment]) -> bool:
    """Completed with every installment paid on or before its due date (not a day late)."""
    items = list(installments)
    return bool(items) and all(i.paid_on is not None and i.paid_on <= i.due_date for i in items)


def earns_double_payment_bonus(whole_installments_paid_by_payment: int) -> bool:
    """One payment that alone pays two or more whole installments."""
    return whole_installments_paid_by_payment >= 2


def earns_early_repayment_bonus(
    *, completes_plan: bool, received_on: dt.date, last_due_date: dt.date
) -> bool:
    """The payment that pays off the whole remaining balance arrives before the last due date."""
    return completes_plan and received_on < last_due_date


@dataclass(frozen=True)
class InstallmentState:
    """One installment of a plan as the investor's page reads it."""

    due_date: dt.date
    amount: Decimal
    paid_amount: Decimal
    paid_on: dt.date | None


def on_time_bonus_in_reach(installments: Sequence[InstallmentState], today: dt.date) -> bool:
    """The on-time bonus can still be earned: every installment paid so far was paid on or
    before its due date, and none unpaid is past its due date (paying on it is in time)."""
    return bool(installments) and all(
        i.paid_on <= i.due_date if i.paid_on is not None else i.due_date >= today
        for i in installments
    )


def double_payment_bonus_amount(installments: Sequence[InstallmentState]) -> Decimal | None:
    """The smallest single payment that pays two whole installments at once (the rule of
    `earns_double_payment_bonus`: an installment already partly paid is not paid whole by
    it), oldest first as payments are allocated; None when fewer than two are left whole."""
    total, whole = ZERO, 0
    for item in sorted(installments, key=lambda i: i.due_date):
        unpaid = item.amount - item.paid_amount
        if unpaid <= 0:
            continue
        total += unpaid
        if item.paid_amount == 0:
            whole += 1
        if earns_double_payment_bonus(whole):
            return total
    return None


def early_repayment_bonus_amount(
    installments: Sequence[InstallmentState], today: dt.date
) -> Decimal | None:
    """What pays off the plan today and earns the early-repayment bonus: the whole remaining
    balance, while today is before the last due date; None otherwise."""
    if not installments:
        return None
    balance = sum((i.amount - i.paid_amount for i in installments), ZERO)
    last_due_date = max(i.due_date for i in installments)
    if balance <= 0 or not earns_early_repayment_bonus(
        completes_plan=True, received_on=today, last_due_date=last_due_date
    ):
        return None
    return balance


def reevaluates_to_restore(
    *,
    cancelled_on: dt.date,
    received_on: dt.date,
    deadline_before: dt.date,
    deadline_after: dt.date | None,
) -> bool:
    """A late-recorded payment restores a cancelled plan when it was received by the grace
    deadline and, counted, leaves nothing that the cancelling scan would have cancelled for.

    `deadline_after` is None when the payment leaves nothing unpaid at all.
    """
    if received_on > deadline_before:
        return False
    return deadline_after is None or not scan_cancels(deadline_after, cancelled_on)
