"""Reads of the outbox for the pages."""

from __future__ import annotations

from clients.models import Investor


def reminders_to(investor: Investor, *, limit: int = 30):
    """The latest reminders sent or queued to `investor`, newest first, each with the name of
    its cadence step (`step_name`) and its plan: one query for the investor page."""
    from django.db.models import OuterRef, Subquery

    from .models import CadenceStep, Reminder

    step_name = CadenceStep.objects.filter(code=OuterRef("kind")).values("name")[:1]
    return (
        Reminder.objects.filter(recipient=investor)
        .select_related("plan__package", "installment")
        .annotate(step_name=Subquery(step_name))
        .order_by("-created_at", "-id")[:limit]
    )
