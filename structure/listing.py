"""The Structure as pages: the ordered, filtered rows of a structure, read a page at a time
with a fixed number of queries whatever the structure's size."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from itertools import groupby

from django.db import models
from django.db.models import Q

from clients.models import InvestorQuerySet
from installments import overdue
from installments.overdue import is_overdue as overdue_q

from .models import ContactLogEntry, HelpRequest
from .rows import ALIAS, RowReader, column_counts, remembered_row, row_template
from .selectors import HELP_URGENCY, URGENCY_ORDER, structure_row_template

# Orderings whose keys are all read from the read model (structure_base): the page's ids come
# from the path index, and only the page's rows get their amounts and contacts.
CHEAP_ORDER_KEYS = {"days_left", "-days_left", "name", "-name", "level", "-level"}
# Up to this many overdue clients, "most urgent first" is one query ordering every row (the
# per-row subqueries cost less than the extra queries of the walk); beyond, the page is
# assembled from the promises, the grace-deadline index and a window of days left.
URGENCY_WALK_FROM = 500


class DayRuns:
    """Days left in order, kept as runs of (day, how many): what the window of the most
    urgent page needs of the first thousand rows' days, without a value per row."""

    def __init__(self, runs: list[tuple[int, int]]):
        self.runs = [(day, count) for day, count in runs if count]
        self.size = sum(count for _, count in self.runs)

    def __len__(self) -> int:
        return self.size

    def extend(self, days) -> None:
        for day, same in groupby(days):
            count = sum(1 for _ in same)
            self.runs.append((day, count))
            self.size += count

    def at(self, index: int) -> int:
        for day, count in self.runs:
            if index < count:
                return day
            index -= count
        raise IndexError(index)

    def first_index(self, day: int) -> int:
        """Where `day` first stands (`list.index`)."""
        start = 0
        for value, count in self.runs:
            if value == day:
                return start
            start += count
        raise ValueError(day)


@dataclass(frozen=True)
class Regular:
    """The overdue rows outside the promises: built only when a statement is compiled."""

    queryset: Callable[[], InvestorQuerySet]
    key: tuple | None


class StructureListing:
    """The ordered, filtered rows of a structure as a sequence a Paginator pages through:
    `count()` and slices. Each slice is read with a fixed number of queries, whatever the
    structure's size, and per-row subqueries run only for the rows around the page.

    `base` is a filtered `structure_base` queryset; `order` the ordering expressions of
    `keys` (see structure.filters.ORDERINGS), ending with the tie break. `key`, when given,
    names everything `base`'s SQL depends on: its statements are then compiled once per
    process (structure.rows.remembered), and a request only executes them.
    """

    ordered = True  # for Paginator: the order is explicit

    def __init__(self, base, *, keys: list[str], order: list, today, root, using, key=None):
        # `base` is a queryset, or a function building it: with a key whose statements were
        # compiled before, a request never builds it.
        self._base = base
        self.key = key
        self.keys = keys
        self.order = order
        self.today = today
        self._counts: dict | None = None
        # Each row's values, from the SQL compiled once per process (structure.rows).
        template = row_template(structure_row_template, key="structure", using=using)
        self.rows = RowReader(template, today=today, root_depth=root.depth, using=using)

    @cached_property
    def base(self) -> InvestorQuerySet:
        return self._base() if callable(self._base) else self._base

    def _count_all(self) -> dict:
        if self._counts is None:
            is_overdue = overdue_q(self.today)
            # Not COUNT(id): the path index does not hold the id, and with only its own
            # columns named the count can be an index-only scan (PostgreSQL). The overdue
            # have an oldest unpaid due date, so counting it counts them.
            total, overdue = remembered_row(
                self._key("count"),
                self.rows.using,
                lambda: tuple(
                    self.base.aggregate(
                        total=models.Count("*"),
                        overdue=models.Count("oldest_unpaid_due_date", filter=is_overdue),
                    ).values()
                ),
            )
            self._counts = {"total": total, "overdue": overdue}
        return self._counts

    def _key(self, *parts):
        return None if self.key is None else (*self.key, *parts)

    def count(self) -> int:
        return self._count_all()["total"]

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        start, stop = index.start or 0, index.stop
        if stop is None:
            stop = self.count()
        if stop <= start:
            return []
        if self.keys[0] == "urgency" and self._count_all()["overdue"] > URGENCY_WALK_FROM:
            return self._urgency_slice(start, stop)
        if all(key in CHEAP_ORDER_KEYS for key in self.keys):
            ids = list(self.base.order_by(*self.order).values_list("pk", flat=True)[start:stop])
            rows = {row.pk: row for row in self.rows.in_ids(ids)}
            return [rows[pk] for pk in ids]
        # The overdue amount depends on the day: computed for every row to order by it.
        return self.rows.in_queryset(
            lambda: self.base,
            key=self._key("all"),
            order=self.order,
            limit=stop - start,
            offset=start,
        )

    def iterator(self, chunk_size: int = 2000):
        """Every row, in order, read in chunks (the CSV export): the same SQL as the pages."""
        return self.rows.stream(self.base, order=self.order, chunk_size=chunk_size)

    # -- most urgent first

    def _urgency_slice(self, start: int, stop: int) -> list:
        """urgency, days left, overdue amount (largest first), name, id, in five groups: the
        clients who asked for help (-1), the broken promises (0), the overdue (1), the pending
        promises (2), the rest (3). Only a client with an open help request, or an overdue
        client whose latest contact is a promise, can be outside 1 and 3: those few are read
        whole; the overdue are walked by grace deadline and get their amounts for the days
        left the page spans only."""
        is_overdue = overdue_q(self.today)

        def specials():
            # (overdue and promised) or asked, read from the few promises and open requests
            # (one id list, then the investors by key), not by scanning the structure.
            promised = ContactLogEntry.objects.filter(outcome="promised").values("investor_id")
            asked = HelpRequest.objects.open().values("investor_id")
            either = promised.order_by().union(asked.order_by())
            return self.base.filter(pk__in=either).filter(is_overdue | Q(pk__in=asked))

        special = self.rows.in_queryset(
            specials,
            key=self._key("special"),
            outer=f"{ALIAS}.urgency NOT IN (1, 3)",
            order=[*URGENCY_ORDER, "name", "id"],
        )
        by_urgency: dict[int, list] = {HELP_URGENCY: [], 0: [], 2: []}
        for row in special:
            by_urgency[row.urgency].append(row)
        counts = self._count_all()
        special_ids = [row.pk for row in special if row.overdue]
        calm_ids = [row.pk for row in special if not row.overdue]
        regular = Regular(
            lambda: self.base.filter(is_overdue).exclude(pk__in=special_ids),
            key=self._key("regular", *special_ids),
        )
        groups = [
            (len(by_urgency[HELP_URGENCY]), lambda a, b: by_urgency[HELP_URGENCY][a:b]),
            (len(by_urgency[0]), lambda a, b: by_urgency[0][a:b]),
            (
                counts["overdue"] - len(special_ids),
                lambda a, b: self._overdue_slice(regular, a, b),
            ),
            (len(by_urgency[2]), lambda a, b: by_urgency[2][a:b]),
            (
                counts["total"] - counts["overdue"] - len(calm_ids),
                lambda a, b: self.rows.in_queryset(
                    self.base.exclude(is_overdue).exclude(pk__in=calm_ids),
                    key=self._key("rest", *calm_ids),
                    order=["name", "id"],
                    limit=b - a,
                    offset=a,
                ),
            ),
        ]
        rows: list = []
        offset = 0
        for size, read in groups:
            a, b = max(start - offset, 0), min(stop - offset, size)
            if a < b:
                rows += read(a, b)
            offset += size
        return rows

    def _overdue_slice(self, regular: Regular, a: int, b: int) -> list:
        today = self.today
        horizon = overdue.latest_natural_deadline(today)
        # The days left of the first b rows, from the grace-deadline index (exact below the
        # horizon, see structure_base) as (days left, how many) runs, then, past it, the rare
        # held or extended ones.
        deadlines = column_counts(
            lambda: (
                regular.queryset()
                .filter(earliest_grace_deadline__lt=horizon)
                .order_by("earliest_grace_deadline")
                .values_list("earliest_grace_deadline", flat=True)[:b]
            ),
            using=self.rows.using,
            key=regular.key and (*regular.key, "deadlines", b),
        )
        days = DayRuns([((deadline - today).days, count) for deadline, count in deadlines])
        if len(days) < b:
            days.extend(
                regular.queryset()
                .filter(earliest_grace_deadline__gte=horizon)
                .order_by("days_left")
                .values_list("days_left", flat=True)[: b - len(days)]
            )
        if a >= len(days):
            return []
        low, high = days.at(a), days.at(min(b, len(days)) - 1)
        before = days.first_index(low)
        natural = today + dt.timedelta(days=high) < horizon

        def window():
            if natural:
                return regular.queryset().filter(
                    earliest_grace_deadline__gte=today + dt.timedelta(days=low),
                    earliest_grace_deadline__lte=today + dt.timedelta(days=high),
                )
            return regular.queryset().filter(days_left__gte=low, days_left__lte=high)

        return self.rows.in_queryset(
            window,
            key=regular.key and (*regular.key, "window", low, high),
            order=["days_left", "-overdue_amount", "name", "id"],
            limit=b - a,
            offset=a - before,
        )
