"""Reads for the reminders: who brought an investor in, and which participants a set of
investors belongs to. Set-based on the sponsor tree's materialized path.

An investor's ancestors are exactly the prefixes of its path (one PATH_STEP each), so "the
participants above these investors" is one indexed `path IN (...)` read of the participants,
whatever the depth, instead of walking sponsors one query per level.
"""

from __future__ import annotations

from collections.abc import Iterable

from clients.models import PATH_STEP, Investor


def ancestor_paths(path: str) -> list[str]:
    """Every ancestor's path, nearest first (the investor's own path excluded)."""
    return [path[:end] for end in range(len(path) - PATH_STEP, 0, -PATH_STEP)]


def participants_above(paths: Iterable[str]) -> dict[str, Investor]:
    """The participants among the ancestors of the given paths, by path."""
    wanted = {ancestor for path in paths if path for ancestor in ancestor_paths(path)}
    found: dict[str, Investor] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), 2000):  # keeps the IN list within driver limits
        batch = ordered[start : start + 2000]
        for participant in Investor.objects.participants().filter(path__in=batch):
            found[participant.path] = participant
    return found


def nearest_participants(investors: Iterable[Investor]) -> dict[int, Investor]:
    """For each investor, the participant who brought them in: the nearest ancestor on the
    sponsor chain who has a login. Investors with none are left out."""
    investors = list(investors)
    above = participants_above(i.path for i in investors)
    result = {}
    for investor in investors:
        for ancestor in ancestor_paths(investor.path or ""):
            if ancestor in above:
                result[investor.pk] = above[ancestor]
                break
    return result


def nearest_participant(investor: Investor) -> Investor | None:
    return nearest_participants([investor]).get(investor.pk)


def reminders_to(investor: Investor, *, limit: int = 30):
    """The latest reminders sent or queued to `investor`, newest first, each with the name of
    its cadence level (`level_name`) and its plan: one query for the investor page."""
    from django.db.models import OuterRef, Subquery

    from .models import CadenceLevel, Reminder

    level_name = CadenceLevel.objects.filter(code=OuterRef("kind")).values("name")[:1]
    return (
        Reminder.objects.filter(recipient=investor)
        .select_related("plan__package", "installment")
        .annotate(level_name=Subquery(level_name))
        .order_by("-created_at", "-id")[:limit]
    )
