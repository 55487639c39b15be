"""Posting a payment: idempotent by reference, allocated oldest first, shares credited,
bonuses, and the automatic restore of a plan cancelled only for want of money received in
time."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError
from django.db.models import Sum

from backoffice.lib.errors import ConflictError, DomainError

from .. import rules
from ..choices import PROMOTION_CREDIT
from ..models import (
    Allocation,
    CreditKind,
    Installment,
    Payment,
    Plan,
    PlanEvent,
    PlanEventKind,
    PlanStatus,
    Promotion,
    PromotionKind,
    ShareLedgerEntry,
)
from ..read_model import plans_changing
from .plans import _rule

logger = logging.getLogger(__name__)


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
    earliest = min(plan.purchased_on, plan.first_due_date)
    if received_on < earliest:
        raise DomainError(
            f"A payment cannot be received before the plan was bought or its first installment "
            f"was due ({received_on} is before {earliest}).",
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
    allocations = _allocate(installments, amount=amount, received_on=received_on)
    allocated = dict(allocations)
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
        [i for i in installments if i.pk in allocated], ["paid_amount", "paid_on"]
    )

    paid_before = sum((i.paid_amount for i in installments), Decimal("0")) - amount
    completes = oldest_unpaid_after is None
    _advance(plan, oldest_unpaid_after=oldest_unpaid_after, received_on=received_on)

    _audit_payment(plan, payment=payment, allocations=allocations, actor=actor)
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


def _audit_payment(
    plan: Plan, *, payment: Payment, allocations: list[tuple[int, Decimal]], actor
) -> None:
    PlanEvent.objects.create(
        plan=plan,
        kind=PlanEventKind.PAYMENT,
        actor=actor,
        data={
            "reference": payment.reference,
            "amount": str(payment.amount),
            "received_on": payment.received_on.isoformat(),
            "installments": [{"id": key, "amount": str(portion)} for key, portion in allocations],
        },
    )


def _advance(plan: Plan, *, oldest_unpaid_after: dt.date | None, received_on: dt.date) -> None:
    """The plan after a payment: its oldest unpaid due date, and completed when none is left."""
    plan.oldest_unpaid_due_date = oldest_unpaid_after
    update_fields = ["oldest_unpaid_due_date"]
    if oldest_unpaid_after is None:
        plan.status = PlanStatus.COMPLETED
        plan.completed_on = received_on
        update_fields += ["status", "completed_on"]
    plan.save(update_fields=update_fields)


def _allocate(
    installments: list[Installment], *, amount: Decimal, received_on: dt.date
) -> list[tuple[int, Decimal]]:
    """Spread `amount` over the unpaid installments (oldest first), in memory: each one's
    paid amount grows, and the one it completes gets its paid date."""
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
    return allocations


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
    on = payment.received_on
    entries = [
        ShareLedgerEntry(plan=plan, payment=payment, kind=kind, shares=shares, credited_on=on)
        for kind, shares in (
            (CreditKind.PROGRESSIVE, credit.progressive),
            (CreditKind.FINAL, credit.final),
        )
        if shares
    ]
    entries += _bonuses(
        plan,
        payment=payment,
        qualifying=_qualifying_promotions(installments, allocations, completes=completes, on=on),
    )
    ShareLedgerEntry.objects.bulk_create(entries)
    return entries


def _qualifying_promotions(
    installments: list[Installment],
    allocations: list[tuple[int, Decimal]],
    *,
    completes: bool,
    on: dt.date,
) -> list[str]:
    """The promotion kinds this payment qualifies for, by the rules."""
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
    return qualifying


def _bonuses(plan: Plan, *, payment: Payment, qualifying: list[str]) -> list[ShareLedgerEntry]:
    """The bonus credits of the promotions in force, each once per plan."""
    on = payment.received_on
    entries = []
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
    return entries
