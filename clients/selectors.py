"""Reads of the participant's Structure, shared by the pages, the CSV export and the API.

Everything a row shows is annotated in the one query that lists the rows (overdue state,
latest contact, promise state, status, urgency), so a page costs the same number of queries
whatever its size, and filtering or ordering on any of it happens in the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from backoffice.lib.db import DaysBetween, date_value
from installments import rules
from installments.models import MONEY, Installment, Plan

from .models import ContactLogEntry, Investor, InvestorQuerySet, PromiseState

# Days left at or under which a client is in their last days (the summary, the row status).
LAST_DAYS = 3


class RowStatus(models.TextChoices):
    PAST_DEADLINE = "past_deadline", _("past the deadline")
    LAST_DAYS = "last_days", _("last days")
    OVERDUE = "overdue", _("overdue")
    ON_TRACK = "on_track", _("on track")
    NO_ACTIVE_PLAN = "no_active_plan", _("no active plan")


def overdue_investor_ids(today: dt.date) -> models.QuerySet:
    """Ids of investors with an active plan overdue on `today` (the investors' read model)."""
    return Investor.objects.filter(oldest_unpaid_due_date__lt=today).values("pk")


def structure_root_of(user) -> Investor | None:
    """The participant a signed-in user is, if any."""
    if not user.is_authenticated:
        return None
    return Investor.objects.filter(user_id=user.pk).first()


def request_structure_root(request) -> Investor | None:
    """`structure_root_of(request.user)`, read once per request: the view's scope and the
    filter's root come from the same row and the same query."""
    if not hasattr(request, "_structure_root"):
        request._structure_root = structure_root_of(request.user)
    return request._structure_root


def _overdue_plans_grace(today: dt.date) -> models.Subquery:
    """The earliest grace deadline among the investor's plans overdue on `today`, per plan."""
    plans = (
        Plan.objects.filter(investor=models.OuterRef("pk"))
        .with_overdue(today)
        .filter(overdue=True)
        .order_by("grace_deadline")
        .values("grace_deadline")[:1]
    )
    return models.Subquery(plans, output_field=models.DateField())


def structure_base(
    queryset: InvestorQuerySet, *, root: Investor, today: dt.date
) -> InvestorQuerySet:
    """`root`'s structure within `queryset`, each row annotated for `today` from the
    investors' read model alone (no join, no per-row subquery but a rare fallback): `level`,
    `overdue`, `oldest_overdue_due_date`, `grace_deadline`, `days_left`, `has_active_plan`,
    `status`. Counting, filtering and ordering on these reads the path index only.

    Exact: overdue on `today` ⇔ the oldest unpaid due date of the active plans is before it,
    and that date is then the oldest overdue one. The stored earliest grace deadline G is over
    every active plan; a plan not yet overdue has its deadline at today + 19 or later, an
    overdue plan without hold or extension before it. So G < today + 19 is the deadline of an
    overdue plan and the earliest of them; otherwise every overdue plan is held or extended
    past today + 19 (rare), and the row reads its plans.
    """
    overdue = models.Q(oldest_unpaid_due_date__lt=today)
    horizon = today + dt.timedelta(days=rules.GRACE_DAYS)
    rows = queryset.in_structure_of(root).with_level(root)
    rows = rows.annotate(
        overdue=models.Case(
            models.When(overdue, then=models.Value(True)),
            default=models.Value(False),
            output_field=models.BooleanField(),
        ),
        oldest_overdue_due_date=models.Case(
            models.When(overdue, then=models.F("oldest_unpaid_due_date")),
            default=None,
            output_field=models.DateField(),
        ),
        grace_deadline=models.Case(
            models.When(
                overdue & models.Q(earliest_grace_deadline__lt=horizon),
                then=models.F("earliest_grace_deadline"),
            ),
            models.When(overdue, then=_overdue_plans_grace(today)),
            default=None,
            output_field=models.DateField(),
        ),
        has_active_plan=models.ExpressionWrapper(
            models.Q(oldest_unpaid_due_date__isnull=False), output_field=models.BooleanField()
        ),
    ).annotate(days_left=DaysBetween("grace_deadline", date_value(today)))
    return rows.annotate(
        status=models.Case(
            models.When(overdue=True, days_left__lt=0, then=models.Value(RowStatus.PAST_DEADLINE)),
            models.When(
                overdue=True, days_left__lte=LAST_DAYS, then=models.Value(RowStatus.LAST_DAYS)
            ),
            models.When(overdue=True, then=models.Value(RowStatus.OVERDUE)),
            models.When(has_active_plan=True, then=models.Value(RowStatus.ON_TRACK)),
            default=models.Value(RowStatus.NO_ACTIVE_PLAN),
            output_field=models.CharField(),
        ),
    )


def with_row_values(rows: InvestorQuerySet, *, today: dt.date) -> InvestorQuerySet:
    """Add to rows of `structure_base` what costs a subquery per row: `overdue_amount`, the
    latest contact (`contact_outcome`, `contact_at`, `contact_promised_on`,
    `contact_promised_amount`, `promise_state`) and `urgency`. Meant for the rows of a page
    (and the few with a promise), not a whole structure."""
    latest = ContactLogEntry.objects.filter(investor=models.OuterRef("pk")).order_by(
        "-contacted_at", "-id"
    )
    latest_promise = latest.with_promise_state(today)
    owed = (
        Installment.objects.overdue_on(today)
        .filter(plan__investor=models.OuterRef("pk"))
        .order_by()
        .values("plan__investor")
        .annotate(total=models.Sum(models.F("amount") - models.F("paid_amount")))
        .values("total")
    )
    money = models.DecimalField(**MONEY)
    rows = rows.annotate(
        overdue_amount=models.Case(
            models.When(
                overdue=True,
                then=Coalesce(models.Subquery(owed, output_field=money), models.Value(0)),
            ),
            default=models.Value(Decimal("0.00")),
            output_field=money,
        ),
        contact_outcome=models.Subquery(latest.values("outcome")[:1]),
        contact_at=models.Subquery(latest.values("contacted_at")[:1]),
        contact_promised_on=models.Subquery(latest.values("promised_on")[:1]),
        contact_promised_amount=models.Subquery(
            latest.values("promised_amount")[:1], output_field=money
        ),
        promise_state=models.Subquery(
            latest_promise.values("promise_state")[:1], output_field=models.CharField()
        ),
    )
    return rows.annotate(
        # Who to call first: a broken promise (the client said they would pay and did not)
        # goes back to the top; then the overdue by days left; a promise still pending
        # (and due before the grace deadline) waits below them; then everyone else.
        urgency=models.Case(
            models.When(overdue=True, promise_state=PromiseState.BROKEN, then=0),
            models.When(
                overdue=True,
                promise_state=PromiseState.PENDING,
                contact_promised_on__lte=models.F("grace_deadline"),
                then=2,
            ),
            models.When(overdue=True, then=1),
            default=3,
            output_field=models.IntegerField(),
        ),
    )


def structure_investors(
    queryset: InvestorQuerySet, *, root: Investor, today: dt.date
) -> InvestorQuerySet:
    """`root`'s structure within `queryset`, each row annotated for `today` with `level`, the
    overdue state (`overdue`, `overdue_amount`, `oldest_overdue_due_date`, `grace_deadline`,
    `days_left`), the latest contact (`contact_outcome`, `contact_at`, `contact_promised_on`,
    `contact_promised_amount`, `promise_state`), `status` and `urgency`."""
    return with_row_values(structure_base(queryset, root=root, today=today), today=today)


URGENCY_ORDER = (
    models.F("urgency").asc(),
    models.F("days_left").asc(nulls_last=True),
    models.F("overdue_amount").desc(),
)


@dataclass(frozen=True)
class StructureSummary:
    clients: int
    overdue_clients: int
    overdue_money: Decimal
    last_days_clients: int


def structure_summary(*, root: Investor, today: dt.date) -> StructureSummary:
    """The numbers at the top of the Structure page, for the whole structure: the counts in
    one pass over the path index (the read model), the money over the overdue clients' plans
    in a second query."""
    structure = Investor.objects.in_structure_of(root)
    overdue = models.Q(oldest_unpaid_due_date__lt=today)
    # At most LAST_DAYS days left: exactly an earliest grace deadline that near (LAST_DAYS
    # < 19, see structure_base).
    last_days = overdue & models.Q(
        earliest_grace_deadline__lte=today + dt.timedelta(days=LAST_DAYS)
    )
    counts = structure.aggregate(
        clients=models.Count("*"),
        overdue_clients=models.Count("oldest_unpaid_due_date", filter=overdue),
        last_days=models.Count("oldest_unpaid_due_date", filter=last_days),
    )
    money = (
        Installment.objects.overdue_on(today)
        .filter(plan__investor__in=structure.filter(overdue).values("pk"))
        .aggregate(
            total=Coalesce(
                models.Sum(models.F("amount") - models.F("paid_amount")),
                models.Value(Decimal("0.00")),
                output_field=models.DecimalField(**MONEY),
            )
        )
    )
    return StructureSummary(
        clients=counts["clients"],
        overdue_clients=counts["overdue_clients"],
        overdue_money=money["total"],
        last_days_clients=counts["last_days"],
    )


def investor_plans(investor: Investor, *, today: dt.date) -> models.QuerySet:
    """The investor's plans with their overdue state, schedule, payments and share ledger
    prefetched (a fixed number of queries whatever the number of plans)."""
    from installments.models import Payment, ShareLedgerEntry

    return (
        Plan.objects.filter(investor=investor)
        .select_related("package")
        .with_overdue(today)
        .annotate(
            shares_credited=Coalesce(
                models.Subquery(
                    ShareLedgerEntry.objects.filter(plan=models.OuterRef("pk"))
                    .order_by()
                    .values("plan")
                    .annotate(total=models.Sum("shares"))
                    .values("total")
                ),
                0,
            )
        )
        .prefetch_related(
            models.Prefetch("installments", queryset=Installment.objects.order_by("number")),
            models.Prefetch("payments", queryset=Payment.objects.order_by("-received_on", "-id")),
            models.Prefetch(
                "ledger",
                queryset=ShareLedgerEntry.objects.select_related("payment").order_by("id"),
            ),
        )
        .order_by("-id")
    )


def investor_contact_log(investor: Investor, *, today: dt.date) -> models.QuerySet:
    return (
        ContactLogEntry.objects.filter(investor=investor)
        .select_related("author")
        .with_promise_state(today)
        .order_by("-contacted_at", "-id")
    )


# ---------------------------------------------------------------------------- pages

# Orderings whose keys are all read from the read model (structure_base): the page's ids come
# from the path index, and only the page's rows get their amounts and contacts.
CHEAP_ORDER_KEYS = {"days_left", "-days_left", "name", "-name", "level", "-level"}
# Up to this many overdue clients, "most urgent first" is one query ordering every row (the
# per-row subqueries cost less than the extra queries of the walk); beyond, the page is
# assembled from the promises, the grace-deadline index and a window of days left.
URGENCY_WALK_FROM = 500


class StructureListing:
    """The ordered, filtered rows of a structure as a sequence a Paginator pages through:
    `count()` and slices. Each slice is read with a fixed number of queries, whatever the
    structure's size, and per-row subqueries run only for the rows around the page.

    `base` is a filtered `structure_base` queryset; `order` the ordering expressions of
    `keys` (see clients.filters.ORDERINGS), ending with the tie break.
    """

    ordered = True  # for Paginator: the order is explicit

    def __init__(self, base: InvestorQuerySet, *, keys: list[str], order: list, today):
        self.base = base
        self.keys = keys
        self.order = order
        self.today = today
        self._counts: dict | None = None

    def _count_all(self) -> dict:
        if self._counts is None:
            overdue = models.Q(oldest_unpaid_due_date__lt=self.today)
            # Not COUNT(id): the path index does not hold the id, and with only its own
            # columns named the count can be an index-only scan (PostgreSQL). The overdue
            # have an oldest unpaid due date, so counting it counts them.
            self._counts = self.base.aggregate(
                total=models.Count("*"),
                overdue=models.Count("oldest_unpaid_due_date", filter=overdue),
            )
        return self._counts

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
            rows = {
                row.pk: row
                for row in with_row_values(self.base, today=self.today).filter(pk__in=ids)
            }
            return [rows[pk] for pk in ids]
        # The overdue amount depends on the day: computed for every row to order by it.
        return list(with_row_values(self.base, today=self.today).order_by(*self.order)[start:stop])

    # -- most urgent first

    def _urgency_slice(self, start: int, stop: int) -> list:
        """urgency, days left, overdue amount (largest first), name, id, in four groups: the
        broken promises (0), the overdue (1), the pending promises (2), the rest (3). Only an
        overdue client whose latest contact is a promise can be in 0 or 2: those few are read
        whole; the overdue are walked by grace deadline and get their amounts for the days
        left the page spans only."""
        today = self.today
        overdue = models.Q(oldest_unpaid_due_date__lt=today)
        promised = ContactLogEntry.objects.filter(outcome="promised").values("investor_id")
        candidates = with_row_values(self.base.filter(overdue, pk__in=promised), today=today)
        special = list(candidates.exclude(urgency=1).order_by(*URGENCY_ORDER, "name", "id"))
        broken = [row for row in special if row.urgency == 0]
        waiting = [row for row in special if row.urgency == 2]
        counts = self._count_all()
        regular = self.base.filter(overdue).exclude(pk__in=[row.pk for row in special])
        groups = [
            (len(broken), lambda a, b: broken[a:b]),
            (counts["overdue"] - len(special), lambda a, b: self._overdue_slice(regular, a, b)),
            (len(waiting), lambda a, b: waiting[a:b]),
            (
                counts["total"] - counts["overdue"],
                lambda a, b: list(
                    with_row_values(self.base.exclude(overdue), today=today).order_by("name", "id")[
                        a:b
                    ]
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

    def _overdue_slice(self, regular: InvestorQuerySet, a: int, b: int) -> list:
        today = self.today
        horizon = today + dt.timedelta(days=rules.GRACE_DAYS)
        # The days left of the first b rows, from the grace-deadline index (exact below the
        # horizon, see structure_base), then, past it, the rare held or extended ones.
        deadlines = list(
            regular.filter(earliest_grace_deadline__lt=horizon)
            .order_by("earliest_grace_deadline")
            .values_list("earliest_grace_deadline", flat=True)[:b]
        )
        days = [(deadline - today).days for deadline in deadlines]
        if len(days) < b:
            days += list(
                regular.filter(earliest_grace_deadline__gte=horizon)
                .order_by("days_left")
                .values_list("days_left", flat=True)[: b - len(days)]
            )
        if a >= len(days):
            return []
        low, high = days[a], days[min(b, len(days)) - 1]
        before = days.index(low)
        if high < rules.GRACE_DAYS:
            window = regular.filter(
                earliest_grace_deadline__gte=today + dt.timedelta(days=low),
                earliest_grace_deadline__lte=today + dt.timedelta(days=high),
            )
        else:
            window = regular.filter(days_left__gte=low, days_left__lte=high)
        ordered = with_row_values(window, today=today).order_by(
            "days_left", models.F("overdue_amount").desc(), "name", "id"
        )
        return list(ordered[a - before : b - before])
