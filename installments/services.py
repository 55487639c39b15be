"""Writes that touch several rows. Every interface (API, admin, commands, tasks) calls these.

Each service is one transaction and takes the plan's row lock first, so two payments, a
payment and a restore, or a payment and the scan never interleave on one plan. A refused
request raises DomainError before anything is written (or inside the transaction, which
then rolls back): a refusal changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError
from django.db.models import Sum

from backoffice.lib.errors import ConflictError, DomainError
from clients.models import Investor

from . import rules
from .models import (
    PROMOTION_CREDIT,
    Allocation,
    CreditKind,
    Installment,
    Package,
    Payment,
    Plan,
    PlanEvent,
    PlanEventKind,
    PlanStatus,
    Promotion,
    PromotionKind,
    PurchaseStage,
    ShareLedgerEntry,
)
from .read_model import plans_changing

logger = logging.getLogger(__name__)


def _rule(call, *args, field_name: str | None = None, **kwargs):
    try:
        return call(*args, **kwargs)
    except rules.RuleError as error:
        raise DomainError(str(error), field=field_name) from None


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


# ---------------------------------------------------------------------------- payments


@dataclass
class PaymentResult:
    payment: Payment
    created: bool
    restored: bool = False
    credits: list[ShareLedgerEntry] = field(default_factory=list)


def _same_payment(payment: Payment, *, plan: Plan, amount: Decimal, received_on: dt.date) -> bool:
    return (
        payment.plan_id == plan.pk
        and payment.amount == amount
        and payment.received_on == received_on
    )


def _replay(reference: str, *, plan: Plan, amount: Decimal, received_on: dt.date):
    existing = Payment.objects.filter(reference=reference).first()
    if existing is None:
        return None
    if not _same_payment(existing, plan=plan, amount=amount, received_on=received_on):
        raise ConflictError(
            f"The reference {reference!r} was already used for another payment "
            f"({existing.amount} on {existing.received_on} to plan #{existing.plan_id}).",
            field="reference",
        )
    return PaymentResult(payment=existing, created=False)


def payment_record(
    *,
    plan: Plan,
    amount: Decimal | str,
    received_on: dt.date,
    reference: str,
    today: dt.date,
    actor=None,
) -> PaymentResult:
    """Post a payment to a plan, idempotently by `reference`.

    The same reference with the same content returns the original payment and posts
    nothing; with other content it is a ConflictError.
    """
    amount = _rule(rules.parse_money, amount, field_name="amount")
    reference = (reference or "").strip()
    if not reference:
        raise DomainError("A payment needs its external reference.", field="reference")
    if received_on > today:
        raise DomainError(
            f"A payment cannot be received in the future ({received_on} is after {today}).",
            field="received_on",
        )
    replay = _replay(reference, plan=plan, amount=amount, received_on=received_on)
    if replay:
        return replay
    try:
        return _post_payment(
            plan=plan,
            amount=amount,
            received_on=received_on,
            reference=reference,
            actor=actor,
        )
    except IntegrityError:
        # A concurrent request posted the same reference between our check and our insert;
        # its transaction has committed, so the replay check now sees it.
        replay = _replay(reference, plan=plan, amount=amount, received_on=received_on)
        if replay:
            return replay
        raise


def _post_payment(
    *, plan: Plan, amount: Decimal, received_on: dt.date, reference: str, actor
) -> PaymentResult:
    with plans_changing() as changes:
        return _post_locked(
            changes.lock(plan),
            amount=amount,
            received_on=received_on,
            reference=reference,
            actor=actor,
        )


def _post_locked(
    plan: Plan, *, amount: Decimal, received_on: dt.date, reference: str, actor
) -> PaymentResult:
    # Checked again under the lock: a concurrent post of this reference to this plan has
    # committed by the time we hold the lock.
    replay = _replay(reference, plan=plan, amount=amount, received_on=received_on)
    if replay:
        return replay
    if plan.status == PlanStatus.COMPLETED:
        raise DomainError(f"Plan #{plan.pk} is already paid in full.", field="plan")
    if plan.status == PlanStatus.CANCELLED and plan.cancelled_on is None:
        raise DomainError(f"Plan #{plan.pk} is cancelled; restore it first.", field="plan")

    installments = list(plan.installments.order_by("number"))
    unpaid = [i for i in installments if i.paid_on is None]
    allocations = _rule(
        rules.allocate,
        amount,
        [rules.Outstanding(key=i.pk, due_date=i.due_date, unpaid=i.unpaid) for i in unpaid],
        field_name="amount",
    )
    allocated = dict(allocations)
    for installment in unpaid:
        portion = allocated.get(installment.pk)
        if portion:
            installment.paid_amount += portion
            if installment.paid_amount == installment.amount:
                installment.paid_on = received_on
    still_unpaid = [i for i in installments if i.paid_on is None]
    oldest_unpaid_after = still_unpaid[0].due_date if still_unpaid else None

    restored = False
    if plan.status == PlanStatus.CANCELLED:
        restored = _reevaluate_cancelled(
            plan, received_on=received_on, oldest_unpaid_after=oldest_unpaid_after
        )

    payment = Payment.objects.create(
        plan=plan, amount=amount, received_on=received_on, reference=reference, recorded_by=actor
    )
    Allocation.objects.bulk_create(
        Allocation(payment=payment, installment_id=key, amount=portion)
        for key, portion in allocations
    )
    Installment.objects.bulk_update(
        [i for i in unpaid if i.pk in allocated], ["paid_amount", "paid_on"]
    )

    paid_before = sum((i.paid_amount for i in installments), Decimal("0")) - amount
    completes = oldest_unpaid_after is None
    plan.oldest_unpaid_due_date = oldest_unpaid_after
    update_fields = ["oldest_unpaid_due_date"]
    if completes:
        plan.status = PlanStatus.COMPLETED
        plan.completed_on = received_on
        update_fields += ["status", "completed_on"]
    plan.save(update_fields=update_fields)

    PlanEvent.objects.create(
        plan=plan,
        kind=PlanEventKind.PAYMENT,
        actor=actor,
        data={
            "reference": reference,
            "amount": str(amount),
            "received_on": received_on.isoformat(),
            "installments": [{"id": key, "amount": str(portion)} for key, portion in allocations],
        },
    )
    credits = _credit_shares(
        plan,
        payment=payment,
        paid_before=paid_before,
        installments=installments,
        allocations=allocations,
        completes=completes,
    )
    if completes:
        PlanEvent.objects.create(
            plan=plan,
            kind=PlanEventKind.COMPLETED,
            actor=actor,
            data={"completed_on": received_on.isoformat(), "payment": reference},
        )
    return PaymentResult(payment=payment, created=True, restored=restored, credits=credits)


def _reevaluate_cancelled(
    plan: Plan, *, received_on: dt.date, oldest_unpaid_after: dt.date | None
) -> bool:
    """A payment for a cancelled plan counts only if it was received by the grace deadline
    and, counted, the cancelling scan would not have cancelled: then the plan is restored."""
    deadline_before = rules.grace_deadline(
        plan.oldest_unpaid_due_date, hold_until=plan.hold_until, extended_to=plan.grace_extended_to
    )
    deadline_after = (
        None
        if oldest_unpaid_after is None
        else rules.grace_deadline(
            oldest_unpaid_after, hold_until=plan.hold_until, extended_to=plan.grace_extended_to
        )
    )
    if not rules.reevaluates_to_restore(
        cancelled_on=plan.cancelled_on,
        received_on=received_on,
        deadline_before=deadline_before,
        deadline_after=deadline_after,
    ):
        if received_on > deadline_before:
            why = f"it was received after the grace deadline of {deadline_before}"
        else:
            why = "it does not cover what was overdue by the grace deadline"
        raise DomainError(
            f"Plan #{plan.pk} was cancelled on {plan.cancelled_on} and this payment does not "
            f"save it: {why}. Restore the plan first to accept it.",
            field="plan",
        )
    cancelled_on = plan.cancelled_on
    plan.status = PlanStatus.ACTIVE
    plan.cancelled_on = None
    plan.save(update_fields=["status", "cancelled_on"])
    PlanEvent.objects.create(
        plan=plan,
        kind=PlanEventKind.AUTO_RESTORED,
        reason=(
            f"A payment received on {received_on}, on or before the grace deadline of "
            f"{deadline_before}, was recorded after the cancellation of {cancelled_on}; "
            "it counts as paid in time."
        ),
        data={
            "received_on": received_on.isoformat(),
            "grace_deadline": deadline_before.isoformat(),
            "cancelled_on": cancelled_on.isoformat(),
        },
    )
    return True


# ---------------------------------------------------------------------------- shares


def _credit_shares(
    plan: Plan,
    *,
    payment: Payment,
    paid_before: Decimal,
    installments: list[Installment],
    allocations: list[tuple[int, Decimal]],
    completes: bool,
) -> list[ShareLedgerEntry]:
    base_credited = (
        plan.ledger.exclude(kind__in=[k.value for k in PROMOTION_CREDIT.values()]).aggregate(
            total=Sum("shares")
        )["total"]
        or 0
    )
    credit = rules.shares_for_payment(
        shares=plan.shares,
        final_fraction=plan.final_payment_fraction,
        price=plan.price,
        paid_before=paid_before,
        paid_after=paid_before + payment.amount,
        base_credited=base_credited,
    )
    entries = []
    on = payment.received_on
    if credit.progressive:
        entries.append(
            ShareLedgerEntry(
                plan=plan,
                payment=payment,
                kind=CreditKind.PROGRESSIVE,
                shares=credit.progressive,
                credited_on=on,
            )
        )
    if credit.final:
        entries.append(
            ShareLedgerEntry(
                plan=plan,
                payment=payment,
                kind=CreditKind.FINAL,
                shares=credit.final,
                credited_on=on,
            )
        )

    by_id = {i.pk: i for i in installments}
    whole = sum(1 for key, portion in allocations if portion == by_id[key].amount)
    qualifying = []
    if rules.earns_double_payment_bonus(whole):
        qualifying.append(PromotionKind.DOUBLE_PAYMENT)
    if completes:
        if rules.earns_early_repayment_bonus(
            completes_plan=True, received_on=on, last_due_date=installments[-1].due_date
        ):
            qualifying.append(PromotionKind.EARLY_REPAYMENT)
        if rules.earns_on_time_bonus(
            rules.PaidInstallment(due_date=i.due_date, amount=i.amount, paid_on=i.paid_on)
            for i in installments
        ):
            qualifying.append(PromotionKind.ON_TIME)
    already = set(
        plan.ledger.filter(kind__in=[PROMOTION_CREDIT[k] for k in qualifying]).values_list(
            "kind", flat=True
        )
    )
    for kind in qualifying:
        if PROMOTION_CREDIT[kind] in already:
            continue
        promotion = Promotion.objects.in_force(kind, on).order_by("-percentage").first()
        if promotion is None:
            continue
        shares = rules.bonus_shares(plan.shares, promotion.percentage)
        if shares:
            entries.append(
                ShareLedgerEntry(
                    plan=plan,
                    payment=payment,
                    kind=PROMOTION_CREDIT[kind],
                    shares=shares,
                    credited_on=on,
                    promotion=promotion,
                )
            )
    ShareLedgerEntry.objects.bulk_create(entries)
    return entries


def plan_add_shares(*, plan: Plan, shares: int, today: dt.date, actor=None) -> Plan:
    """Add shares to a sold plan at its locked share price (the purchase-stage discount).

    The added price is spread over the unpaid installments, so the schedule keeps its dates.
    """
    if not isinstance(shares, int) or shares < 1:
        raise DomainError("Add at least one whole share.", field="shares")
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
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Write why the plan is restored.", field="reason")
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
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Write why the plan is put on hold.", field="reason")
    if until < today:
        raise DomainError(f"A hold must last until today or later, not {until}.", field="until")
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
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Write why the hold is released.", field="reason")
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


# ---------------------------------------------------------------------------- the scan


@dataclass(frozen=True)
class Cancellation:
    plan_id: int
    investor: str
    oldest_unpaid_due_date: dt.date
    grace_deadline: dt.date
    overdue_amount: Decimal


def plans_to_cancel(scan_date: dt.date):
    """What the scan of `scan_date` cancels, with the figures it reports.

    No join and no ORDER BY: the rows come straight off the grace-deadline index, and the
    planner is never tempted to walk the plans by investor to feed a join (measured: seconds
    at ten million plans). The investors' names and the order are added for the day's few.
    """
    return Plan.objects.past_grace(scan_date).with_overdue(scan_date).order_by()


def _as_cancellations(plans: list[Plan]) -> list[Cancellation]:
    names = dict(
        Investor.objects.filter(pk__in={plan.investor_id for plan in plans}).values_list(
            "pk", "name"
        )
    )
    plans = sorted(plans, key=lambda plan: (plan.oldest_unpaid_due_date, plan.pk))
    return [
        Cancellation(
            plan_id=plan.pk,
            investor=names[plan.investor_id],
            oldest_unpaid_due_date=plan.oldest_unpaid_due_date,
            grace_deadline=plan.grace_deadline,
            # SQLite returns the SUM without its two places.
            overdue_amount=Decimal(plan.overdue_amount).quantize(rules.CENT),
        )
        for plan in plans
    ]


def plans_cancel_expired(*, scan_date: dt.date, dry_run: bool = False) -> list[Cancellation]:
    """Cancel every active plan whose grace deadline is before `scan_date`.

    Set-based: the candidates come from one indexed range read, and the cancellation is one
    UPDATE plus one bulk INSERT of audit entries, so the cost follows the number of plans that
    change. Running it again for the same date finds nothing and writes nothing.
    """
    candidates = plans_to_cancel(scan_date)
    if dry_run:
        return _as_cancellations(list(candidates))
    with plans_changing() as changes:
        # Lock the candidates: a payment that is saving one of them right now finishes first,
        # and a concurrent scan of the same date blocks here and then finds them cancelled
        # (PostgreSQL re-checks the WHERE clause of a locked row after the wait).
        cancellations = _as_cancellations(list(candidates.select_for_update()))
        ids = [c.plan_id for c in cancellations]
        if not ids:
            return []
        # The status guard makes the UPDATE itself a claim: only rows still active change.
        changed = Plan.objects.filter(pk__in=ids, status=PlanStatus.ACTIVE).update(
            status=PlanStatus.CANCELLED, cancelled_on=scan_date
        )
        if changed != len(ids):  # pragma: no cover - impossible while the rows are locked
            raise RuntimeError("plans changed under the scan's row locks")
        PlanEvent.objects.bulk_create(
            PlanEvent(
                plan_id=c.plan_id,
                kind=PlanEventKind.CANCELLED,
                reason=(
                    f"Grace deadline {c.grace_deadline} passed with {c.overdue_amount} overdue "
                    f"(oldest unpaid installment due {c.oldest_unpaid_due_date})."
                ),
                data={
                    "scan_date": scan_date.isoformat(),
                    "grace_deadline": c.grace_deadline.isoformat(),
                    "overdue_amount": str(c.overdue_amount),
                },
            )
            for c in cancellations
        )
        changes.add(plans=Plan.objects.filter(pk__in=ids))
    logger.info("scan %s cancelled %d plans", scan_date, len(cancellations))
    return cancellations
