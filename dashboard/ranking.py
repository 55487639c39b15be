"""The participants ranked by recovery (docs/rules.md, Dashboard): what each one's
structure recovered within grace in the last 30 days, read in one query per page."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models.functions import Coalesce, Concat

from clients.models import PATH_END, Investor
from installments import overdue
from installments.rules import ZERO

from .kept import recovered_allocations

# Most recovered first; ties by name, then id, so a page never overlaps the next.
RANKING_ORDER = (models.F("recovered").desc(), "name", "pk")


def recovery_ranking(*, today: dt.date) -> models.QuerySet:
    """Every participant with `recovered` (`recovered_in_grace_30d` of their structure) and
    `structure_size` (how many investors it holds), ranked. Each is a correlated subquery on the
    tree path's range, so a page of the ranking is one statement whatever its size."""
    in_structure = {
        "installment__plan__investor__path__gt": models.OuterRef("path"),
        "installment__plan__investor__path__lt": Concat(
            models.OuterRef("path"), models.Value(PATH_END)
        ),
    }
    recovered = (
        recovered_allocations(today)
        .filter(**in_structure)
        .order_by()
        .annotate(one=models.Value(1))
        .values("one")
        .annotate(total=models.Sum("amount"))
        .values("total")
    )
    clients = (
        Investor.objects.filter(
            path__gt=models.OuterRef("path"),
            path__lt=Concat(models.OuterRef("path"), models.Value(PATH_END)),
        )
        .order_by()
        .annotate(one=models.Value(1))
        .values("one")
        .annotate(n=models.Count("*"))
        .values("n")
    )
    return (
        Investor.objects.participants()
        .annotate(
            recovered=Coalesce(
                models.Subquery(recovered, output_field=overdue.MONEY_FIELD),
                models.Value(ZERO),
                output_field=overdue.MONEY_FIELD,
            ),
            structure_size=Coalesce(models.Subquery(clients), models.Value(0)),
        )
        .order_by(*RANKING_ORDER)
        .only("pk", "name")
    )
