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
from django.utils.translation import gettext_lazy as _

from clients.models import Investor, InvestorQuerySet
from installments import overdue
from installments.models import Installment, Payment, Plan, ShareLedgerEntry
from installments.read_model import investors_with_overdue, with_overdue_amount

from .models import ContactLogEntry, HelpRequest, PromiseState

# The urgency of a client with an open help request: before every other (0 to 3).
HELP_URGENCY = -1


class RowStatus(models.TextChoices):
    PAST_DEADLINE = "past_deadline", _("past the deadline")
    LAST_DAYS = "last_days", _("last days")
    OVERDUE = "overdue", _("overdue")
    ON_TRACK = "on_track", _("on track")
    NO_ACTIVE_PLAN = "no_active_plan", _("no active plan")


def structure_base(
    queryset: InvestorQuerySet, *, root: Investor, today: dt.date
) -> InvestorQuerySet:
    """`root`'s structure within `queryset`, each row annotated for `today` from the
    investors' read model alone (`installments.read_model.investors_with_overdue`): `level`,
    `overdue`, `oldest_overdue_due_date`, `grace_deadline`, `days_left`, `has_active_plan`,
    `status`. Counting, filtering and ordering on these reads the path index only."""
    if queryset.query.is_empty():
        rows = investors_with_overdue(queryset.in_structure_of(root), today=today)
        return with_status(rows, today=today).with_level(root)
    # The annotations resolved once per day and database, then narrowed to the structure.
    rows = _investors_with_status(today, queryset.db).all() & queryset.in_structure_of(root)
    return rows.with_level(root)


_WITH_STATUS: dict = {}


def _investors_with_status(today: dt.date, using: str) -> InvestorQuerySet:
    """Every investor annotated by `investors_with_overdue` and `with_status` for `today`:
    built once per day and database in this process (never evaluated, only cloned)."""
    key = (today, using)
    rows = _WITH_STATUS.get(key)
    if rows is None:
        rows = with_status(
            investors_with_overdue(Investor.objects.using(using), today=today), today=today
        )
        if len(_WITH_STATUS) > 8:
            _WITH_STATUS.clear()
        _WITH_STATUS[key] = rows
    return rows


def with_status(rows: InvestorQuerySet, *, today: dt.date) -> InvestorQuerySet:
    """`status` of rows annotated by `investors_with_overdue`."""
    return rows.annotate(
        status=models.Case(
            models.When(overdue=True, days_left__lt=0, then=models.Value(RowStatus.PAST_DEADLINE)),
            models.When(
                models.Q(overdue=True) & overdue.in_last_days(today),
                then=models.Value(RowStatus.LAST_DAYS),
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
    `contact_promised_amount`, `promise_state`), `help_requested` (an open help request),
    `on_hold_until` (the latest day a plan of theirs is on hold to) and `urgency`. Meant
    for the rows of a page (and the few with a promise), not a whole structure."""
    latest = ContactLogEntry.objects.filter(investor=models.OuterRef("pk")).order_by(
        "-contacted_at", "-id"
    )
    latest_promise = latest.with_promise_state(today)
    rows = with_overdue_amount(rows, today=today).annotate(
        contact_outcome=models.Subquery(latest.values("outcome")[:1]),
        contact_at=models.Subquery(latest.values("contacted_at")[:1]),
        contact_promised_on=models.Subquery(latest.values("promised_on")[:1]),
        contact_promised_amount=models.Subquery(
            latest.values("promised_amount")[:1], output_field=overdue.MONEY_FIELD
        ),
        promise_state=models.Subquery(
            latest_promise.values("promise_state")[:1], output_field=models.CharField()
        ),
        help_requested=models.Exists(
            HelpRequest.objects.open().filter(investor=models.OuterRef("pk"))
        ),
        # The latest day a plan of theirs is on hold to (`Plan.is_on_hold`), or None.
        on_hold_until=models.Subquery(
            Plan.objects.filter(investor=models.OuterRef("pk"))
            .on_hold(today)
            .order_by("-hold_until")
            .values("hold_until")[:1]
        ),
    )
    return rows.annotate(
        # Who to call first: a client who asked for help, overdue or not (asking is rare and
        # the reason for the button); then a broken promise (the client said they would pay
        # and did not) goes back to the top; then the overdue by days left; a promise still pending
        # (and due before the grace deadline) waits below them; then everyone else.
        urgency=models.Case(
            models.When(help_requested=True, then=HELP_URGENCY),
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


def structure_row_template(today: dt.date) -> InvestorQuerySet:
    """Every investor with every value a Structure row shows but `level` (which counts from
    a root): the query `structure.rows` compiles once per process."""
    rows = investors_with_overdue(Investor.objects.all(), today=today)
    return with_row_values(with_status(rows, today=today), today=today)


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
    overdue_amount: Decimal
    last_days_clients: int


def structure_summary(*, root: Investor, today: dt.date) -> StructureSummary:
    """The numbers at the top of the Structure page, for the whole structure: the counts in
    one pass over the path index (the read model), the money over the overdue clients' plans
    in a second query."""
    structure = Investor.objects.in_structure_of(root)
    is_overdue = overdue.is_overdue(today)
    # The stored earliest grace deadline is the row's own below the grace horizon
    # (investors_with_overdue), and the last days lie far below it.
    last_days = is_overdue & overdue.in_last_days(today, field="earliest_grace_deadline")
    counts = structure.aggregate(
        clients=models.Count("*"),
        overdue_clients=models.Count("oldest_unpaid_due_date", filter=is_overdue),
        last_days=models.Count("oldest_unpaid_due_date", filter=last_days),
    )
    money = (
        Installment.objects.overdue_on(today)
        .filter(plan__investor__in=structure.filter(is_overdue).values("pk"))
        .aggregate(total=overdue.sum_unpaid())
    )
    return StructureSummary(
        clients=counts["clients"],
        overdue_clients=counts["overdue_clients"],
        overdue_amount=money["total"],
        last_days_clients=counts["last_days"],
    )


def investor_plans(investor: Investor, *, today: dt.date) -> models.QuerySet:
    """The investor's plans with their overdue state, schedule, payments and share ledger
    prefetched (a fixed number of queries whatever the number of plans)."""
    return (
        Plan.objects.filter(investor=investor)
        .select_related("package")
        .with_overdue(today)
        .with_shares_credited()
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


def investor_help_requests(investor: Investor) -> models.QuerySet:
    """The investor's help requests, open ones first, then the latest answered."""
    return (
        HelpRequest.objects.filter(investor=investor)
        .select_related("plan__package", "answered_by")
        .order_by(models.F("answered_at").desc(nulls_first=True), "-asked_at")[:20]
    )
