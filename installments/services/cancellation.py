"""What the nightly scan cancels: the active plans whose grace deadline has passed."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from clients.models import Investor

from .. import rules
from ..models import (
    Plan,
    PlanEvent,
    PlanEventKind,
    PlanStatus,
)
from ..read_model import plans_changing

logger = logging.getLogger(__name__)


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


def plans_cancel_expired(
    *, scan_date: dt.date, dry_run: bool = False, scan_run_id: int | None = None
) -> list[Cancellation]:
    """Cancel every active plan whose grace deadline is before `scan_date`. Each audit entry
    names the scan run (`scan_run_id`) that cancelled it, when there is one.

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
                    **({"scan_run": scan_run_id} if scan_run_id is not None else {}),
                },
            )
            for c in cancellations
        )
        changes.add(plans=Plan.objects.filter(pk__in=ids))
    logger.info("scan %s cancelled %d plans", scan_date, len(cancellations))
    return cancellations
