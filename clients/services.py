from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models.functions import Coalesce, Concat, Greatest, Length, Substr
from django.utils import timezone

from backoffice.lib.dates import validate_time_zone
from backoffice.lib.db import AddDays
from backoffice.lib.errors import ConflictError, DomainError
from installments import rules

from .models import (
    MAX_DEPTH,
    PATH_END,
    ContactLogEntry,
    ContactOutcome,
    Investor,
    path_step,
)


@transaction.atomic
def investor_create(
    *,
    name: str,
    sponsor: Investor | None = None,
    phone: str = "",
    email: str = "",
    messenger: str = "",
    language: str = "en",
    time_zone: str = "",
) -> Investor:
    """Add an investor under `sponsor` (or at the top of a new tree)."""
    if not name.strip():
        raise DomainError("An investor needs a name.", field="name")
    try:
        validate_time_zone(time_zone)
    except ValidationError as error:
        raise DomainError(error.messages[0], field="time_zone") from None
    depth = 1 if sponsor is None else sponsor.depth + 1
    if depth > MAX_DEPTH:
        raise DomainError(f"The tree may be at most {MAX_DEPTH} levels deep.", field="sponsor")
    investor = Investor.objects.create(
        name=name.strip(),
        sponsor=sponsor,
        depth=depth,
        phone=phone.strip(),
        email=email.strip(),
        messenger=messenger.strip(),
        language=language,
        time_zone=time_zone,
    )
    # The path is built from the id, which exists only after the insert (same transaction).
    investor.path = (sponsor.path if sponsor else "") + path_step(investor.pk)
    Investor.objects.filter(pk=investor.pk).update(path=investor.path)
    return investor


@transaction.atomic
def investor_move(*, investor: Investor, sponsor: Investor | None) -> Investor:
    """Give `investor` (and their whole structure) a new sponsor.

    The instance passed in is refreshed, so a caller never keeps a stale path.
    """
    given = investor
    investor = Investor.objects.select_for_update().get(pk=investor.pk)
    if sponsor is not None:
        sponsor = Investor.objects.get(pk=sponsor.pk)
        if sponsor.path.startswith(investor.path):
            raise DomainError(
                "An investor cannot be placed under themselves or their own structure.",
                field="sponsor",
            )
    if sponsor == investor.sponsor:
        given.refresh_from_db()
        return given
    old_prefix = investor.path
    new_prefix = (sponsor.path if sponsor else "") + path_step(investor.pk)
    delta = (sponsor.depth + 1 if sponsor else 1) - investor.depth
    subtree = Investor.objects.filter(path__gte=old_prefix, path__lt=old_prefix + PATH_END)
    deepest = subtree.aggregate(m=models.Max("depth"))["m"] or investor.depth
    if deepest + delta > MAX_DEPTH:
        raise DomainError(f"The tree may be at most {MAX_DEPTH} levels deep.", field="sponsor")
    # One UPDATE rewrites the prefix of every path in the subtree.
    subtree.update(
        path=Concat(
            models.Value(new_prefix),
            Substr("path", len(old_prefix) + 1, Length("path")),
            output_field=models.CharField(),
        ),
        depth=models.F("depth") + delta,
    )
    Investor.objects.filter(pk=investor.pk).update(sponsor=sponsor)
    given.refresh_from_db()
    return given


@transaction.atomic
def participant_grant_login(*, investor: Investor, username: str, password: str):
    """Give an investor a back-office login: they become a participant."""
    investor = Investor.objects.select_for_update().get(pk=investor.pk)
    if investor.user_id is not None:
        raise ConflictError(
            f"{investor.name} can already sign in as {investor.user.get_username()!r}.",
            field="username",
        )
    User = get_user_model()
    username = username.strip()
    if not username:
        raise DomainError("A username is required.", field="username")
    try:
        UnicodeUsernameValidator()(username)
        User._meta.get_field("username").run_validators(username)
    except ValidationError as error:
        raise DomainError(" ".join(error.messages), field="username") from None
    if User.objects.filter(username__iexact=username).exists():
        raise DomainError(f"The username {username!r} is taken.", field="username")
    user = User(username=username, email=investor.email, first_name=investor.name[:150])
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise DomainError(" ".join(error.messages), field="password") from None
    user.set_password(password)
    user.save()
    investor.user = user
    investor.save(update_fields=["user"])
    return user


def contact_log_record(
    *,
    investor: Investor,
    author,
    outcome: str,
    today: dt.date,
    note: str = "",
    promised_on: dt.date | None = None,
    promised_amount: Decimal | str | None = None,
    at: dt.datetime | None = None,
) -> ContactLogEntry:
    """Record what happened when `author` contacted `investor` on the business day `today`.

    A promise to pay needs a date (today or later) and an amount; the promise is judged later,
    from the payments (`ContactLogQuerySet.with_promise_state`).
    """
    if outcome not in ContactOutcome.values:
        raise DomainError(f"{outcome!r} is not a contact outcome.", field="outcome")
    if outcome == ContactOutcome.PROMISED:
        if promised_on is None:
            raise DomainError("A promise to pay needs the promised date.", field="promised_on")
        if promised_on < today:
            raise DomainError(
                f"The promised date cannot be in the past ({promised_on} is before {today}).",
                field="promised_on",
            )
        if promised_amount in (None, ""):
            raise DomainError(
                "A promise to pay needs the promised amount.", field="promised_amount"
            )
        try:
            promised_amount = rules.parse_money(promised_amount)
        except rules.RuleError as error:
            raise DomainError(str(error), field="promised_amount") from None
    else:
        # Only a promise has a date and an amount: a stray one would be judged as a promise.
        promised_on = None
        promised_amount = None
    return ContactLogEntry.objects.create(
        investor=investor,
        author=author,
        contacted_at=at or timezone.now(),
        contacted_on=today,
        outcome=outcome,
        promised_on=promised_on,
        promised_amount=promised_amount,
        note=(note or "").strip(),
    )


# ---------------------------------------------------------------------------- read model


def _investor_overdue_aggregate(investor_ids: list[int] | None) -> tuple[str, list]:
    """SELECT id, oldest unpaid due date, earliest grace deadline over the ACTIVE plans of
    `investor_ids` (every investor for None; NULLs for one without an active plan), one
    grouped LEFT JOIN."""
    from installments.models import PlanStatus

    active = models.Q(plans__status=PlanStatus.ACTIVE)
    natural = AddDays("plans__oldest_unpaid_due_date", rules.GRACE_DAYS)
    # GREATEST skips NULLs on PostgreSQL but not on SQLite: coalesce them away.
    plan_grace = Greatest(
        natural,
        Coalesce("plans__hold_until", natural),
        Coalesce("plans__grace_extended_to", natural),
    )
    investors = Investor.objects.all()
    if investor_ids is not None:
        investors = investors.filter(pk__in=investor_ids)
    aggregate = (
        investors.order_by()
        .annotate(ref=models.F("pk"))
        .values("ref")
        .annotate(
            oldest=models.Min("plans__oldest_unpaid_due_date", filter=active),
            grace=models.Min(plan_grace, filter=active, output_field=models.DateField()),
        )
        .values_list("ref", "oldest", "grace")
    )
    return aggregate.query.sql_with_params()


def investor_overdue_refresh(*, investor_ids: Iterable[int] | models.QuerySet) -> int:
    """Rewrite the Structure's read model (`Investor.oldest_unpaid_due_date`,
    `Investor.earliest_grace_deadline`) of `investor_ids` (ids, or a queryset of ids read as
    a subquery) from their active plans, in the caller's transaction. Returns the number of
    investors whose values changed.

    Call it after every write that changes a plan's oldest unpaid date, status, hold or
    grace extension, in the same transaction. The investors' rows are locked first, in id
    order: two payments to two plans of one investor then recompute one after the other, the
    second reading what the first committed (READ COMMITTED gives each statement a fresh
    snapshot, but an UPDATE blocked on a row lock would keep its old aggregate). FOR NO KEY
    UPDATE leaves plan and contact-log inserts (which take KEY SHARE on the investor) free.
    Only rows whose values change are written: a part payment leaves the investor untouched.
    """
    if not isinstance(investor_ids, models.QuerySet):
        investor_ids = sorted({int(pk) for pk in investor_ids})
        if not investor_ids:
            return 0
    # No savepoint: inside the caller's transaction this is two statements, the lock and
    # the UPDATE; alone, it is its own transaction.
    with transaction.atomic(savepoint=False):
        locked = (
            Investor.objects.filter(pk__in=investor_ids)
            .order_by("pk")
            .select_for_update(no_key=True)
            .values_list("pk", flat=True)
        )
        ids = list(locked)
        return _overdue_update(ids) if ids else 0


def _overdue_update(ids: list[int] | None) -> int:
    select, params = _investor_overdue_aggregate(ids)
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    sql = (
        "UPDATE clients_investor AS i "
        "SET oldest_unpaid_due_date = agg.oldest, earliest_grace_deadline = agg.grace "
        f"FROM ({select}) AS agg "
        "WHERE i.id = agg.ref "
        f"AND (i.oldest_unpaid_due_date {differs} agg.oldest "
        f"OR i.earliest_grace_deadline {differs} agg.grace)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def investor_overdue_refresh_all() -> int:
    """The read model of every investor in one statement (the data migration, the benchmark
    generator: nothing else writes at that time, so no row is locked first)."""
    return _overdue_update(None)
