"""The installments app's enumerations: a plan's states and the admin's actions on it, the
kinds of share credit, of promotion and of audit entry (stored as their codes)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PlanStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    COMPLETED = "completed", _("completed")
    CANCELLED = "cancelled", _("cancelled")


class PlanAction(models.TextChoices):
    RECORD_PAYMENT = "record_payment", _("Record payment")
    ADD_SHARES = "add_shares", _("Add shares")
    HOLD = "hold", _("Put on hold")
    RELEASE_HOLD = "release_hold", _("Release hold")
    RESTORE = "restore", _("Restore")


class CreditKind(models.TextChoices):
    PROGRESSIVE = "progressive", _("progressive credit")
    FINAL = "final", _("final credit")
    ADJUSTMENT = "adjustment", _("shares added")
    ON_TIME_BONUS = "on_time_bonus", _("on-time bonus")
    DOUBLE_PAYMENT_BONUS = "double_payment_bonus", _("double-payment bonus")
    EARLY_REPAYMENT_BONUS = "early_repayment_bonus", _("early-repayment bonus")


BONUS_KINDS = (
    CreditKind.ON_TIME_BONUS,
    CreditKind.DOUBLE_PAYMENT_BONUS,
    CreditKind.EARLY_REPAYMENT_BONUS,
)


class PromotionKind(models.TextChoices):
    ON_TIME = "on_time", _("on-time payment")
    DOUBLE_PAYMENT = "double_payment", _("double payment")
    EARLY_REPAYMENT = "early_repayment", _("early repayment")


PROMOTION_CREDIT = {
    PromotionKind.ON_TIME: CreditKind.ON_TIME_BONUS,
    PromotionKind.DOUBLE_PAYMENT: CreditKind.DOUBLE_PAYMENT_BONUS,
    PromotionKind.EARLY_REPAYMENT: CreditKind.EARLY_REPAYMENT_BONUS,
}


class PlanEventKind(models.TextChoices):
    CREATED = "created", _("created")
    PAYMENT = "payment", _("payment recorded")
    COMPLETED = "completed", _("completed")
    CANCELLED = "cancelled", _("cancelled")
    RESTORED = "restored", _("restored")
    AUTO_RESTORED = "auto_restored", _("restored by a payment received in time")
    HOLD = "hold", _("put on hold")
    HOLD_RELEASED = "hold_released", _("hold released")
    SHARES_ADDED = "shares_added", _("shares added")
    BONUS = "bonus", _("bonus credited")
