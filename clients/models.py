from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Left
from django.utils.translation import gettext_lazy as _

from backoffice.lib import phones
from backoffice.lib.dates import validate_time_zone

# The sponsor tree is stored as a materialized path: each investor's `path` is its sponsor's
# path followed by its own id, written in base 36 at a fixed width (PATH_STEP characters).
#
# Why: the Structure asks "every investor under X, with their level" for subtrees of 100,000+
# investors 60+ levels deep. With a path that is one index range scan
# (X.path < path < X.path + "~") and level = depth − X.depth, on SQLite and PostgreSQL alike.
# A closure table would answer the same but store one row per (ancestor, descendant) pair
# (about 6 million rows for one such subtree); a recursive CTE walks 60 levels one join at a
# time. Steps are built from the id, not from a sibling counter, so adding a client never
# reads or locks its siblings. Moving a subtree (rare, an admin act) rewrites the prefix of
# its rows in one UPDATE.
PATH_STEP = 7  # 36**7 ≈ 78 billion ids
PATH_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PATH_END = "~"  # sorts after every alphabet character in byte order
MAX_DEPTH = 250

# The path's first ten steps (`Investor.path_head`), a narrow copy of the path for the large
# structures. A structure whose root's path is shorter than the head is the same range on the
# head as on the path (the head of a descendant's path still extends the root's path), and that
# range reads an index a third the size of the path's: the count of a 100,000-client structure
# takes half the time. The participants with the largest structures sit near the top of their
# tree; a root deeper than the head is read through the whole path, as before.
PATH_HEAD = PATH_STEP * 10


def path_step(investor_id: int) -> str:
    digits = []
    value = investor_id
    while value:
        value, remainder = divmod(value, 36)
        digits.append(PATH_ALPHABET[remainder])
    step = "".join(reversed(digits)) or "0"
    if len(step) > PATH_STEP:
        raise ValueError(f"investor id {investor_id} does not fit a path step")
    return step.rjust(PATH_STEP, "0")


class PathField(models.CharField):
    """A CharField compared byte by byte: the prefix range must not depend on a locale."""

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params


class PhoneField(models.CharField):
    """A phone number, cleaned to E.164 (`backoffice.lib.phones`) wherever a model is cleaned:
    the admin's forms, `full_clean`, and the services and serializers through `clean`."""

    normalize = staticmethod(phones.phone_e164)

    def clean(self, value, model_instance):
        # Not to_python: that also runs on every query's value (a search for "98000 00001").
        value = super().clean(value, model_instance)
        try:
            return self.normalize(value or "", region=settings.PHONE_REGION)
        except phones.ContactError as error:
            raise ValidationError(str(error), code="invalid") from None


class MessengerField(PhoneField):
    """A WhatsApp number (E.164) or a Telegram handle (`@name`)."""

    normalize = staticmethod(phones.messenger_contact)


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    HINDI = "hi", "हिन्दी (Hindi)"
    NEPALI = "ne", "नेपाली (Nepali)"


class InvestorQuerySet(models.QuerySet):
    def in_structure_of(self, root: Investor) -> InvestorQuerySet:
        """Every investor whose chain of sponsors leads to `root`, at any depth (not root):
        the range of paths that extend root's, read on the path's head when root's path is
        shorter than it (see PATH_HEAD; `tests/clients/test_tree.py` holds the two ranges
        equal)."""
        if len(root.path) < PATH_HEAD:
            return self.filter(path_head__gt=root.path, path_head__lt=root.path + PATH_END)
        return self.filter(path__gt=root.path, path__lt=root.path + PATH_END)

    def with_level(self, root: Investor) -> InvestorQuerySet:
        return self.annotate(level=models.F("depth") - root.depth)

    def participants(self) -> InvestorQuerySet:
        return self.filter(user__isnull=False)


class Investor(models.Model):
    name = models.CharField(_("name"), max_length=200)
    sponsor = models.ForeignKey(
        "self",
        verbose_name=_("sponsor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="clients",
        help_text=_("Who brought this investor in. Empty for the top of a tree."),
    )
    path = PathField(max_length=PATH_STEP * MAX_DEPTH, editable=False, null=True)
    path_head = models.GeneratedField(
        expression=Left("path", PATH_HEAD),
        output_field=PathField(max_length=PATH_HEAD, null=True),
        db_persist=True,
    )
    depth = models.PositiveSmallIntegerField(editable=False, default=1)
    phone = PhoneField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("email"), blank=True)
    messenger = MessengerField(
        _("messenger"),
        max_length=64,
        blank=True,
        help_text=_("WhatsApp number or Telegram handle."),
    )
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.ENGLISH
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_(
            "Where the investor lives, e.g. Asia/Kathmandu; reminders respect quiet hours there. "
            "Empty: the business time zone."
        ),
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="investor",
        help_text=_("A back-office login makes this investor a participant."),
    )
    # The investor's own sign-in to their plans ("My plans"), separate from being a
    # participant: a participant signs in with `user` and sees both.
    login = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="investor_login",
        verbose_name=_("investor login"),
        help_text=_("A sign-in to the investor's own plans; it does not make them a participant."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # The investors' overdue read model: over the investor's ACTIVE plans, the oldest unpaid
    # due date and the earliest grace deadline. The columns sit here, beside the tree path, so
    # the Structure counts, filters and orders a whole structure from one index; their only
    # writer is `installments.read_model` (every plan write goes through its
    # `plans_changing()`), and `installments.read_model.investors_with_overdue` reads them.
    oldest_unpaid_due_date = models.DateField(editable=False, null=True)
    earliest_grace_deadline = models.DateField(editable=False, null=True)
    # The overdue amount, kept with the days it holds for (`rules.overdue_amount_span`: from
    # the day after the latest unpaid due date before it to the next unpaid due date; NULL:
    # open), so the Structure orders a day's overdue clients by amount without summing their
    # installments. Outside those days it is summed again (`read_model.with_overdue_amount`).
    kept_overdue_amount = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, db_default=0, editable=False
    )
    kept_overdue_from = models.DateField(editable=False, null=True)
    kept_overdue_until = models.DateField(editable=False, null=True)
    # Over ALL the investor's plans: the price of every plan and of the cancelled ones (the
    # dashboard's invested and cancelled money, summed over a structure from the path index).
    plans_price = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0.00"), db_default=0, editable=False
    )
    cancelled_price = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0.00"), db_default=0, editable=False
    )

    # The dashboard's figures of the investor, kept (`dashboard.kept`, their only writer) so a
    # dashboard sums a 100,000-client structure in one pass. They were computed for
    # `kept_figures_day` under the settings and definitions `kept_figures_stamp` names
    # (`dashboard.kept.stamp`), and hold for a later day once a refresh has checked them for
    # it (`dashboard.KeptFiguresCheck`); every plan write empties the stamp
    # (`installments.read_model`), and a row not kept for the day asked is computed afresh
    # wherever it is read. The figures are in the head's figures index
    # (`investor_head_figures_idx`), which the dashboard's one pass reads alone: a refresh
    # that rewrites a row is never an in-place (HOT) update, and writes an entry in each of
    # the row's indexes. The emptied stamps are in a small partial index
    # (`investor_kept_emptied_idx`).
    kept_figures_stamp = models.IntegerField(editable=False, null=True)
    kept_figures_day = models.DateField(editable=False, null=True)
    kept_recovered = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0.00"), db_default=0, editable=False
    )
    kept_fell_due = models.DateField(editable=False, null=True)
    kept_fell_plans = models.IntegerField(default=0, db_default=0, editable=False)
    kept_cured_plans = models.IntegerField(default=0, db_default=0, editable=False)
    kept_saved_plans = models.IntegerField(default=0, db_default=0, editable=False)
    kept_cancelled_this_month = models.IntegerField(default=0, db_default=0, editable=False)
    # NULL: no payment and no plan, so no cell (an empty string would read as a cell).
    kept_segment = models.CharField(max_length=10, editable=False, null=True)  # noqa: DJ001

    objects = InvestorQuerySet.as_manager()

    class Meta:
        verbose_name = _("investor")
        verbose_name_plural = _("investors")
        ordering = ["name", "id"]
        constraints = [
            # Serves the subtree range scan; the unique index is also the path's integrity.
            models.UniqueConstraint(fields=["path"], name="investor_path_unique"),
        ]
        indexes = [
            # The Structure's count, summary and overdue / level filters, and the dashboard's
            # clients, buckets and money: the subtree range with the read model alongside,
            # answered from the index alone (PostgreSQL).
            models.Index(
                fields=["path"],
                include=[
                    "oldest_unpaid_due_date",
                    "earliest_grace_deadline",
                    "depth",
                    "plans_price",
                    "cancelled_price",
                ],
                name="investor_path_overdue_idx",
            ),
            # The Structure's count and filters for a structure whose root lies within the
            # path's head (PATH_HEAD): the same range on an index a third the size.
            models.Index(
                fields=["path_head"],
                include=["oldest_unpaid_due_date", "earliest_grace_deadline", "depth"],
                name="investor_path_head_idx",
            ),
            # The dashboard's one pass over such a structure (`dashboard.figures.client_counts`:
            # the read model and every figure kept on the row), answered from the index alone
            # instead of the investors' heap. `tests/dashboard/test_dashboard_api.py` holds
            # the list to the columns the pass names.
            models.Index(
                fields=["path_head"],
                include=[
                    "oldest_unpaid_due_date",
                    "earliest_grace_deadline",
                    "plans_price",
                    "cancelled_price",
                    "kept_overdue_amount",
                    "kept_overdue_from",
                    "kept_overdue_until",
                    "kept_figures_stamp",
                    "kept_figures_day",
                    "kept_recovered",
                    "kept_fell_plans",
                    "kept_fell_due",
                    "kept_cured_plans",
                    "kept_saved_plans",
                    "kept_cancelled_this_month",
                    "kept_segment",
                ],
                name="investor_head_figures_idx",
            ),
            # The Structure's "most urgent first": the overdue walked by grace deadline, so a
            # page reads the clients before it, not the whole structure.
            models.Index(
                fields=["earliest_grace_deadline", "id"],
                include=["path", "path_head", "oldest_unpaid_due_date"],
                condition=models.Q(oldest_unpaid_due_date__isnull=False),
                name="investor_grace_deadline_idx",
            ),
            # Search by name in the admin and the Structure.
            models.Index(fields=["name"], name="investor_name_idx"),
            # Search by phone/email (exact prefix matches from support calls).
            models.Index(fields=["phone"], name="investor_phone_idx"),
            models.Index(fields=["email"], name="investor_email_idx"),
            # The rows whose kept figures a write emptied since the last refresh: the dashboard
            # lists the few of a structure without a second pass (`dashboard.figures`).
            models.Index(
                fields=["id"],
                condition=models.Q(kept_figures_stamp__isnull=True),
                name="investor_kept_emptied_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        """The investor's own time zone, or the business time zone when none is set."""
        return ZoneInfo(self.time_zone) if self.time_zone else settings.BUSINESS_TIME_ZONE

    @property
    def is_participant(self) -> bool:
        return self.user_id is not None

    @property
    def can_sign_in(self) -> bool:
        return self.user_id is not None or self.login_id is not None


class ParticipantManager(models.Manager):
    def get_queryset(self):
        return InvestorQuerySet(self.model, using=self._db).participants()


class Participant(Investor):
    """An investor with a back-office login (a proxy for the admin's own list)."""

    objects = ParticipantManager()

    class Meta:
        proxy = True
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
