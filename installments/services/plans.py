"""Selling a plan and the admin's acts on it: add shares, restore, hold, release."""

from __future__ import annotations

import datetime as dt
import logging

from backoffice.lib.errors import DomainError, shown
from clients.models import Investor

from .. import rules
from ..models import (
    Installment,
    Package,
    Plan,
    PlanEvent,
    PlanEventKind,
    PlanStatus,
    PurchaseStage,
)
from ..read_model import plans_changing

logger = logging.getLogger(__name__)


def _rule(call, *args, field_name: str | None = None, **kwargs):
    try:
        return call(*args, **kwargs)
    except rules.RuleError as error:
        raise DomainError(shown(error), field=field_name) from None


# The longest written reason (a restore, a hold, its release) the audit trail keeps.
REASON_MAX_LENGTH = 1000


def _written(reason: str | None, *, missing: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(missing, field="reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise DomainError(
            f"A reason is {REASON_MAX_LENGTH} characters at the most, not {len(reason)}.",
            field="reason",
        )
    return reason


# ---------------------------------------------------------------------------- plans


def stage_in_force(on: dt.date) -> PurchaseStage:
    stage = PurchaseStage.objects.filter(starts_on__lte=on).order_by("-starts_on").first()
    if stage is None:
        raise DomainError(
            f"No purchase stage is in force on {on}: an admin must add one first.",
            field="package",
        )
    return stage


def plan_create(
    *,
    investor: Investor,
    package: Package,
    first_due_date: dt.date,
    today: dt.date,
    actor=None,
) -> Plan:
    """Sell `package` to `investor` in installments; the first is due on `first_due_date`.

    First due dates in the past are allowed (bringing in an existing portfolio): the plan's
    overdue state is right from the first moment because it is read from the installments.
    """
    if not package.is_active:
        raise DomainError(f"The package {package.name!r} is not on sale.", field="package")
    _rule(rules.first_due_date_check, first_due_date, today, field_name="first_due_date")
    with plans_changing() as changes:
        plan = _create(
            investor=investor,
            package=package,
            first_due_date=first_due_date,
            today=today,
            actor=actor,
        )
        changes.add(investor_ids=[investor.pk])
    return plan


def _create(*, investor, package, first_due_date, today, actor) -> Plan:
    stage = stage_in_force(today)
    installments = _rule(
        rules.schedule,
        price=package.price,
        count=package.installment_count,
        first_due_date=first_due_date,
        field_name="first_due_date",
    )
    plan = Plan.objects.create(
        investor=investor,
        package=package,
        stage=stage,
        share_price=stage.share_price,
        shares=package.shares,
        price=package.price,
        final_payment_fraction=package.final_payment_fraction,
        purchased_on=today,
        first_due_date=first_due_date,
        oldest_unpaid_due_date=installments[0].due_date,
    )
    Installment.objects.bulk_create(
        Installment(plan=plan, number=i.number, due_date=i.due_date, amount=i.amount)
        for i in installments
    )
    PlanEvent.objects.create(
        plan=plan,
        kind=PlanEventKind.CREATED,
        actor=actor,
        data={"package": package.name, "price": str(package.price), "shares": package.shares},
    )
    return plan


# A plan holds no more shares than a package may sell (`rules.MAX_PACKAGE_SHARES`).
_SHARES_AT_MOST = f"A plan holds at most {rules.MAX_PACKAGE_SHARES:,} shares."


def plan_add_shares(*, plan: Plan, shares: int, today: dt.date, actor=None) -> Plan:
    """Add shares to a sold plan at its locked share price (the purchase-stage discount).

    The added price is spread over the unpaid installments, so the schedule keeps its dates.
    """
    if not isinstance(shares, int) or shares < 1:
        raise DomainError("Add at least one whole share.", field="shares")
    if shares > rules.MAX_PACKAGE_SHARES:
        raise DomainError(_SHARES_AT_MOST, field="shares")
    with plans_changing() as changes:
        plan = changes.lock(plan)
        if plan.status != PlanStatus.ACTIVE:
            raise DomainError(
                f"Shares can only be added to an active plan; plan #{plan.pk} is {plan.status}.",
                field="plan",
            )
        unpaid = list(plan.installments.unpaid().order_by("number"))
        extra = plan.share_price * shares
        if plan.price + extra > rules.MAX_AMOUNT:
            raise DomainError("The plan's price would become absurdly large.", field="shares")
        if plan.shares + shares > rules.MAX_PACKAGE_SHARES:
            raise DomainError(_SHARES_AT_MOST, field="shares")
        for installment, portion in zip(
            unpaid, rules.split_amount(extra, len(unpaid)), strict=True
        ):
            installment.amount += portion
        Installment.objects.bulk_update(unpaid, ["amount"])
        plan.shares += shares
        plan.price += extra
        plan.save(update_fields=["shares", "price"])
        PlanEvent.objects.create(
            plan=plan,
            kind=PlanEventKind.SHARES_ADDED,
            actor=actor,
            data={"shares": shares, "price": str(extra), "share_price": str(plan.share_price)},
        )
        return plan


# ---------------------------------------------------------------------------- admin acts


def plan_restore(*, plan: Plan, reason: str, today: dt.date, actor=None) -> Plan:
    """Bring a cancelled plan back, with a fresh grace window from today, so the next scan
    does not cancel it again at once."""
    reason = _written(reason, missing="Write why the plan is restored.")
    with plans_changing() as changes:
        plan = changes.lock(plan)
        if plan.status != PlanStatus.CANCELLED:
            raise DomainError(f"Plan #{plan.pk} is {plan.status}, not cancelled.", field="plan")
        cancelled_on = plan.cancelled_on
        extended_to = rules.restored_grace_until(today)
        plan.status = PlanStatus.ACTIVE
        plan.cancelled_on = None
        plan.grace_extended_to = max(extended_to, plan.grace_extended_to or extended_to)
        plan.save(update_fields=["status", "cancelled_on", "grace_extended_to"])
        PlanEvent.objects.create(
            plan=plan,
            kind=PlanEventKind.RESTORED,
            actor=actor,
            reason=reason,
            data={
                "cancelled_on": cancelled_on.isoformat() if cancelled_on else None,
                "grace_extended_to": plan.grace_extended_to.isoformat(),
            },
        )
        return plan


def plan_hold(*, plan: Plan, until: dt.date, reason: str, today: dt.date, actor=None) -> Plan:
    """No cancellation and no reminders for the plan until `until` (inclusive)."""
    reason = _written(reason, missing="Write why the plan is put on hold.")
    _rule(rules.hold_check, until, today, field_name="until")
    with plans_changing() as changes:
        plan = changes.lock(plan)
        if plan.status != PlanStatus.ACTIVE:
            raise DomainError(
                f"Plan #{plan.pk} is {plan.status}; only active plans are held.", field="plan"
            )
        plan.hold_until = until
        plan.hold_reason = reason
        plan.save(update_fields=["hold_until", "hold_reason"])
        PlanEvent.objects.create(
            plan=plan,
            kind=PlanEventKind.HOLD,
            actor=actor,
            reason=reason,
            data={"until": until.isoformat()},
        )
        return plan


def plan_release_hold(*, plan: Plan, reason: str, today: dt.date, actor=None) -> Plan:
    reason = _written(reason, missing="Write why the hold is released.")
    with plans_changing() as changes:
        plan = changes.lock(plan)
        if not plan.is_on_hold(today):
            raise DomainError(f"Plan #{plan.pk} is not on hold.", field="plan")
        plan.hold_until = None
        plan.hold_reason = ""
        plan.save(update_fields=["hold_until", "hold_reason"])
        PlanEvent.objects.create(
            plan=plan, kind=PlanEventKind.HOLD_RELEASED, actor=actor, reason=reason
        )
        return plan
