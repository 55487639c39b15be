"""Writes of the sponsor tree: adding an investor, moving a subtree, granting a login."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Concat, Length, Substr

from backoffice.lib.dates import validate_time_zone
from backoffice.lib.errors import ConflictError, DomainError

from .models import MAX_DEPTH, PATH_END, Investor, path_step


def contact_clean(field: str, value: str) -> str:
    """A phone or messenger as stored (E.164, or a handle), or a DomainError on the field."""
    try:
        return Investor._meta.get_field(field).clean(value or "", None)
    except ValidationError as error:
        raise DomainError(error.messages[0], field=field) from None


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
    phone = contact_clean("phone", phone)
    messenger = contact_clean("messenger", messenger)
    depth = 1 if sponsor is None else sponsor.depth + 1
    if depth > MAX_DEPTH:
        raise DomainError(f"The tree may be at most {MAX_DEPTH} levels deep.", field="sponsor")
    investor = Investor.objects.create(
        name=name.strip(),
        sponsor=sponsor,
        depth=depth,
        phone=phone,
        email=email.strip(),
        messenger=messenger,
        language=language,
        time_zone=time_zone,
    )
    # The path is built from the id, which exists only after the insert (same transaction).
    investor.path = (sponsor.path if sponsor else "") + path_step(investor.pk)
    Investor.objects.filter(pk=investor.pk).update(path=investor.path)
    # The database computed the path's head from the path just written: read on first use.
    del investor.path_head
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


def _new_login(*, investor: Investor, username: str, password: str):
    """A user for `investor`, with the username and password checked (field errors)."""
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
    return user


def _refuse_second_login(investor: Investor) -> None:
    existing = investor.user or investor.login
    if existing is not None:
        raise ConflictError(
            f"{investor.name} can already sign in as {existing.get_username()!r}.",
            field="username",
        )


@transaction.atomic
def participant_grant_login(*, investor: Investor, username: str, password: str):
    """Give an investor a back-office login: they become a participant."""
    investor = Investor.objects.select_for_update().get(pk=investor.pk)
    _refuse_second_login(investor)
    user = _new_login(investor=investor, username=username, password=password)
    investor.user = user
    investor.save(update_fields=["user"])
    return user


@transaction.atomic
def investor_grant_login(*, investor: Investor, username: str, password: str):
    """Give an investor a sign-in to their own plans, without making them a participant."""
    investor = Investor.objects.select_for_update().get(pk=investor.pk)
    _refuse_second_login(investor)
    user = _new_login(investor=investor, username=username, password=password)
    investor.login = user
    investor.save(update_fields=["login"])
    return user
