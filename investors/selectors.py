"""Reads of the investor's own page ("My plans") and `GET /api/me/`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import models

from clients.models import Investor
from installments.bonuses import BonusInReach, bonuses_within_reach, promotions_in_force
from installments.models import Installment, Plan, PlanStatus
from reminders.models import ChannelOptOut
from reminders.rules import SharesAtStake, shares_at_stake
from structure.models import HelpRequest
from structure.selectors import investor_plans

from .models import PaymentInstructions


@dataclass
class MyPlan:
    plan: Plan  # annotated by with_overdue and with_shares_credited, schedule prefetched
    next_installment: Installment | None
    next_amount: Decimal | None
    stake: SharesAtStake
    shares_to_come: int
    bonuses: list[BonusInReach] = field(default_factory=list)
    help_request: HelpRequest | None = None


def _next_unpaid(plan: Plan) -> Installment | None:
    return next((i for i in plan.installments.all() if i.paid_on is None), None)


def my_plans(investor: Investor, *, today: dt.date) -> list[MyPlan]:
    """Each of the investor's plans with what the page says about it: what is due next, what
    is at stake, the bonuses within reach and the latest help request."""
    promotions = promotions_in_force(today)
    plans = list(investor_plans(investor, today=today))
    latest_help: dict[int, HelpRequest] = {}
    for request in HelpRequest.objects.filter(plan__in=plans).order_by(
        models.F("answered_at").asc(nulls_last=True), "-asked_at"
    ):
        # Open first (one per plan at most), else the latest answered.
        latest_help.setdefault(request.plan_id, request)
    found = []
    for plan in plans:
        upcoming = _next_unpaid(plan) if plan.status == PlanStatus.ACTIVE else None
        stake = shares_at_stake(
            shares=plan.shares,
            final_fraction=plan.final_payment_fraction,
            credited=plan.shares_credited,
        )
        found.append(
            MyPlan(
                plan=plan,
                next_installment=upcoming,
                next_amount=upcoming.amount - upcoming.paid_amount if upcoming else None,
                stake=stake,
                shares_to_come=max(plan.shares - plan.shares_credited, 0)
                if plan.status != PlanStatus.CANCELLED
                else 0,
                bonuses=bonuses_within_reach(plan, today=today, promotions=promotions),
                help_request=latest_help.get(plan.pk),
            )
        )
    return found


def payment_instructions(language: str) -> str:
    """How to pay in `language`, else English, else the reminders' setting."""
    texts = dict(
        PaymentInstructions.objects.filter(language__in=[language, "en"]).values_list(
            "language", "text"
        )
    )
    return texts.get(language) or texts.get("en") or settings.REMINDER_PAYMENT_INSTRUCTIONS


def opted_out_channels(investor: Investor) -> list[str]:
    return sorted(ChannelOptOut.objects.filter(investor=investor).values_list("channel", flat=True))
