"""Writes that touch several rows. Every interface (API, admin, commands, tasks) calls these.

Each service is one transaction inside `read_model.plans_changing()` and takes the plan's
row lock first, so two payments, a payment and a restore, or a payment and the scan never
interleave on one plan, and the investors' read model changes with the plan. A refused
request raises DomainError before anything is written (or inside the transaction, which
then rolls back): a refusal changes nothing.
"""

from .cancellation import Cancellation, plans_cancel_expired, plans_to_cancel
from .payments import PaymentResult, payment_record
from .plans import (
    plan_add_shares,
    plan_create,
    plan_hold,
    plan_release_hold,
    plan_restore,
    stage_in_force,
)

__all__ = [
    "Cancellation",
    "PaymentResult",
    "payment_record",
    "plan_add_shares",
    "plan_create",
    "plan_hold",
    "plan_release_hold",
    "plan_restore",
    "plans_cancel_expired",
    "plans_to_cancel",
    "stage_in_force",
]
