"""Writes of the people-facing floor: the contact log."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from backoffice.lib.errors import DomainError, shown
from clients.models import Investor
from installments import overdue, rules
from installments.models import Installment, PlanStatus

from .models import ContactLogEntry, ContactOutcome


def _check_promise_within_reach(
    investor: Investor, promised_on: dt.date, promised_amount: Decimal
) -> None:
    """A promise the plans can wait for: money the investor still owes on active plans, by
    the earliest grace deadline (after it that plan is cancelled, whatever was promised)."""
    deadline = (
        Investor.objects.filter(pk=investor.pk)
        .values_list("earliest_grace_deadline", flat=True)
        .first()
    )
    if deadline is not None and promised_on > deadline:
        raise DomainError(
            _(
                "The promised date must be on or before the grace deadline, {deadline}: "
                "after it the plan is cancelled."
            ).format(deadline=date_format(deadline)),
            field="promised_on",
        )
    owed = Installment.objects.filter(
        plan__investor=investor, plan__status=PlanStatus.ACTIVE
    ).aggregate(owed=overdue.sum_unpaid())["owed"]
    # SQLite sums decimals as floats: back to cents.
    owed = Decimal(owed).quantize(rules.CENT)
    if promised_amount > owed:
        raise DomainError(
            _("The promised amount is more than the {owed} the investor still owes.").format(
                owed=owed
            ),
            field="promised_amount",
        )


def contact_log_record(
    *,
    investor: Investor,
    author,
    outcome: str,
    today: dt.date,
    note: str = "",
    promised_on: dt.date | None = None,
    promised_amount: Decimal | str | None = None,
    at: dt.datetime | None = None,
) -> ContactLogEntry:
    """Record what happened when `author` contacted `investor` on the business day `today`.

    A promise to pay needs a date (today or later) and an amount; the promise is judged later,
    from the payments (`ContactLogQuerySet.with_promise_state`).
    """
    if outcome not in ContactOutcome.values:
        raise DomainError(f"{outcome!r} is not a contact outcome.", field="outcome")
    if outcome == ContactOutcome.PROMISED:
        if promised_on is None:
            raise DomainError(_("A promise to pay needs the promised date."), field="promised_on")
        if promised_on < today:
            raise DomainError(
                _(
                    "The promised date cannot be in the past ({promised_on} is before {today})."
                ).format(promised_on=date_format(promised_on), today=date_format(today)),
                field="promised_on",
            )
        if promised_amount in (None, ""):
            raise DomainError(
                _("A promise to pay needs the promised amount."), field="promised_amount"
            )
        try:
            promised_amount = rules.parse_money(promised_amount)
        except rules.RuleError as error:
            raise DomainError(shown(error), field="promised_amount") from None
        _check_promise_within_reach(investor, promised_on, promised_amount)
    else:
        # Only a promise has a date and an amount: a stray one would be judged as a promise.
        promised_on = None
        promised_amount = None
    return ContactLogEntry.objects.create(
        investor=investor,
        author=author,
        contacted_at=at or timezone.now(),
        contacted_on=today,
        outcome=outcome,
        promised_on=promised_on,
        promised_amount=promised_amount,
        note=(note or "").strip(),
    )
