"""Bonuses within reach of an active plan, from the promotions in force today and the bonus
rules in `installments.rules` (what the investor's page and `GET /api/me/` show)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from . import rules
from .choices import PROMOTION_CREDIT, PlanStatus, PromotionKind
from .models import Plan, Promotion


@dataclass(frozen=True)
class BonusInReach:
    kind: str  # a PromotionKind
    promotion: str
    percentage: Decimal
    shares: int
    # What to pay to earn it: the whole balance (early repayment), two whole installments
    # at once (double payment); None for the on-time bonus (keep paying by each due date).
    amount: Decimal | None


def promotions_in_force(today: dt.date) -> dict[str, Promotion]:
    """The best promotion of each kind in force on `today` (as the payment service credits)."""
    best: dict[str, Promotion] = {}
    for kind in PromotionKind.values:
        promotion = Promotion.objects.in_force(kind, today).order_by("-percentage").first()
        if promotion is not None:
            best[kind] = promotion
    return best


def bonuses_within_reach(
    plan: Plan, *, today: dt.date, promotions: dict[str, Promotion]
) -> list[BonusInReach]:
    """The bonuses `plan` can still earn, with what earns each. Reads the plan's installments
    and ledger (prefetch them for many plans)."""
    if plan.status != PlanStatus.ACTIVE:
        return []
    installments = [
        rules.InstallmentState(
            due_date=i.due_date, amount=i.amount, paid_amount=i.paid_amount, paid_on=i.paid_on
        )
        for i in plan.installments.all()
    ]
    credited_kinds = {entry.kind for entry in plan.ledger.all()}
    reach = {
        PromotionKind.ON_TIME: (rules.on_time_bonus_in_reach(installments, today), None),
        PromotionKind.DOUBLE_PAYMENT: (None, rules.double_payment_bonus_amount(installments)),
        PromotionKind.EARLY_REPAYMENT: (
            None,
            rules.early_repayment_bonus_amount(installments, today),
        ),
    }
    found = []
    for kind, (in_reach, amount) in reach.items():
        promotion = promotions.get(kind)
        if promotion is None or PROMOTION_CREDIT[kind] in credited_kinds:
            continue
        if in_reach is False or (in_reach is None and amount is None):
            continue
        shares = rules.bonus_shares(plan.shares, promotion.percentage)
        if shares:
            found.append(
                BonusInReach(
                    kind=kind,
                    promotion=promotion.name,
                    percentage=promotion.percentage,
                    shares=shares,
                    amount=amount,
                )
            )
    return found
