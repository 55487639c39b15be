"""Reads of the sponsor tree: who a signed-in user is in it, what they may see, and which
participants stand above a set of investors.

An investor's ancestors are exactly the prefixes of its path (one PATH_STEP each), so "the
participants above these investors" is one indexed `path IN (...)` read of the participants,
whatever the depth, instead of walking sponsors one query per level.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models

from .models import PATH_STEP, Investor, InvestorQuerySet


def structure_root_of(user) -> Investor | None:
    """The participant a signed-in user is, if any (read with the user when the API's token
    authentication loaded them, else one query)."""
    if not user.is_authenticated:
        return None
    try:
        return user.investor
    except Investor.DoesNotExist:
        return None


def investor_of(user) -> Investor | None:
    """The investor a signed-in user is: through their investor login, or as a participant
    (a participant is an investor too)."""
    if not user.is_authenticated:
        return None
    return (
        Investor.objects.filter(models.Q(login_id=user.pk) | models.Q(user_id=user.pk))
        .order_by("id")
        .first()
    )


def request_structure_root(request) -> Investor | None:
    """`structure_root_of(request.user)`, read once per request: the view's scope and the
    filter's root come from the same row and the same query."""
    if not hasattr(request, "_structure_root"):
        request._structure_root = structure_root_of(request.user)
    return request._structure_root


def visible_investors(user, *, request=None) -> InvestorQuerySet:
    """The investors `user` may read: staff every one; a participant their own structure and
    themselves; anyone else nobody. Given the request, the participant is read once for it."""
    if user.is_staff:
        return Investor.objects.all()
    root = request_structure_root(request) if request is not None else structure_root_of(user)
    if root is None:
        return Investor.objects.none()
    return Investor.objects.in_structure_of(root) | Investor.objects.filter(pk=root.pk)


def structure_scope(user, *, request) -> InvestorQuerySet:
    """The outer bound of a Structure listing: staff every investor (they choose whose
    structure); a participant their own structure. Narrower than `visible_investors`, which
    adds the participant themselves: a structure never lists its root, and without that
    `OR id = …` the listing's count reads the path index alone."""
    if user.is_staff:
        return Investor.objects.all()
    root = request_structure_root(request)
    if root is None:
        return Investor.objects.none()
    return Investor.objects.in_structure_of(root)


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


# Up to this many participants in the book, `participants_of` reads them all and tests each
# path against their paths, instead of looking up every ancestor of every path.
FEW_PARTICIPANTS = 32


def participants_of(paths: Iterable[str]) -> dict[str, list[Investor]]:
    """For each of the given investor paths, the participants above it, nearest first (an
    empty list for none): the one reading of "the participant above an investor", one
    indexed read for them all.

    A book with few participants (the nightly digest reads every overdue client's: tens of
    thousands of paths of tens of levels each) reads its participants first, deepest first,
    and keeps those whose path is a proper prefix of the investor's: an ancestor, since every
    level of a path has the same width."""
    paths = list(paths)
    if not any(paths):
        return {path: [] for path in paths}
    few = list(Investor.objects.participants()[: FEW_PARTICIPANTS + 1])
    if len(few) <= FEW_PARTICIPANTS:
        few.sort(key=lambda participant: len(participant.path), reverse=True)  # nearest first
        return {
            path: [p for p in few if path and len(p.path) < len(path) and path.startswith(p.path)]
            for path in paths
        }
    above = participants_above(paths)
    return {
        path: [above[ancestor] for ancestor in ancestor_paths(path or "") if ancestor in above]
        for path in paths
    }


def nearest_participants(investors: Iterable[Investor]) -> dict[int, Investor]:
    """For each investor, the participant who brought them in: the nearest ancestor on the
    sponsor chain who has a login. Investors with none are left out."""
    investors = list(investors)
    above = participants_of(investor.path for investor in investors)
    return {investor.pk: above[investor.path][0] for investor in investors if above[investor.path]}


def nearest_participant(investor: Investor) -> Investor | None:
    return nearest_participants([investor]).get(investor.pk)
