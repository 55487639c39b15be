"""Whose figures a request reads: a participant their own structure; staff one chosen
participant's, or the whole book."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from clients.models import Investor
from clients.selectors import request_structure_root


class ScopeRefused(Exception):
    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Scope:
    root: Investor | None  # None: the whole book (staff only)


def request_scope(request, participant: str | None) -> Scope:
    user = request.user
    if participant not in (None, ""):
        if not user.is_staff:
            raise ScopeRefused(_("Only staff may choose whose structure to read."))
        try:
            pk = int(participant)
        except (TypeError, ValueError):
            raise ScopeRefused(_("No participant has this id.")) from None
        root = Investor.objects.participants().filter(pk=pk).first()
        if root is None:
            raise ScopeRefused(_("No participant has this id."))
        return Scope(root)
    if user.is_staff:
        return Scope(None)
    root = request_structure_root(request)
    if root is None:
        raise ScopeRefused(_("Only participants and staff have a dashboard."), status=403)
    return Scope(root)
