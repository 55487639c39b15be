"""The Structure's one filter definition (docs/rules.md, Structure; the API in the README): the HTML
page, its CSV export and GET /api/structure/ all read their rows through `StructureFilter`."""

from __future__ import annotations

import copy
import datetime as dt

import django_filters
from django import forms
from django.db import models
from django.db.models import Q
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from backoffice.lib.dates import business_today
from backoffice.lib.filters import StrictBooleanFilter
from clients.models import MAX_DEPTH, Investor
from clients.selectors import request_structure_root
from installments import overdue, rules, segments
from installments.activity import Segment
from installments.models import Plan, PlanStatus

from .listing import StructureListing
from .models import HelpRequest
from .selectors import URGENCY_ORDER, structure_base, with_row_values

# Bounds that keep a typo from reaching the database as an out-of-range integer.
DAYS_BOUND = 100_000
SEARCH_MAX_LENGTH = 100

ORDERINGS = {
    "urgency": URGENCY_ORDER,
    "days_left": (models.F("days_left").asc(nulls_last=True),),
    "-days_left": (models.F("days_left").desc(nulls_last=True),),
    "overdue_amount": (models.F("overdue_amount").asc(),),
    "-overdue_amount": (models.F("overdue_amount").desc(),),
    "name": (models.F("name").asc(),),
    "-name": (models.F("name").desc(),),
    "level": (models.F("level").asc(),),
    "-level": (models.F("level").desc(),),
}
ORDERING_LABELS = {
    "urgency": _("most urgent first"),
    "days_left": _("days left, fewest first"),
    "-days_left": _("days left, most first"),
    "overdue_amount": _("overdue amount, smallest first"),
    "-overdue_amount": _("overdue amount, largest first"),
    "name": _("name, A to Z"),
    "-name": _("name, Z to A"),
    "level": _("level, nearest first"),
    "-level": _("level, deepest first"),
}
# The activity matrix's cells and the overdue buckets in words (the filters' choices, the
# dashboard's labels).
SEGMENT_CHOICES = [
    (Segment.NEW, _("new")),
    (Segment.ONE_TIME, _("one-time")),
    (Segment.GROWING, _("growing")),
    (Segment.LOST, _("lost")),
    (Segment.VIP, _("VIP")),
]


def _bucket_label(bucket: str):
    if bucket == rules.PAST_DEADLINE:
        return _("past the deadline")
    first, last = rules.bucket_days(bucket)
    return format_lazy(_("{first}–{last} days overdue"), first=first, last=last or rules.GRACE_DAYS)


BUCKET_CHOICES = [(bucket, _bucket_label(bucket)) for bucket in rules.BUCKETS]
# Ties are broken by name and id, so that pages never overlap or skip a row.
TIE_BREAK = ("name", "id")


def _frozen(value):
    if isinstance(value, models.Model):
        return (value._meta.label, value.pk)
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


@extend_schema_field(OpenApiTypes.INT)
class ParticipantFilter(django_filters.ModelChoiceFilter):
    """Whose structure to read (staff only). Applied before the other filters, as the root
    that `level` counts from; see `StructureFilterForm.clean`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("error_messages", {"invalid_choice": _("No participant has this id.")})
        super().__init__(*args, **kwargs)


@extend_schema_field(
    {
        "type": "string",
        "enum": list(ORDERINGS),
        "default": "urgency",
    }
)
class StructureOrdering(django_filters.OrderingFilter):
    """`urgency` (the default), `days_left`, `overdue_amount`, `name`, `level` and their
    reverses (`-days_left`, …). Rows without anything overdue come last either way."""

    def __init__(self, *args, **kwargs):
        kwargs["choices"] = list(ORDERING_LABELS.items())
        kwargs.setdefault("label", _("Order"))
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        self.parent.order_by_keys(value)
        return qs  # ordered by `StructureFilter.filter_queryset` and `listing`


class FieldsCopiedPerForm(dict):
    """The filter form's fields as each form copies them: one `copy.copy` each instead of
    Django's deep copy of every field's widget, choices and lazy labels, which cost a
    twentieth of a Structure request. A request's form changes none of them (its data,
    errors and cleaned values are the form's own), so their widgets, choices and validators
    are shared: code that changes a form's field or widget (`form.fields[…].choices = …`)
    must not be added here. Still copied deep: a model choice field (its queryset and choice
    iterator must be the form's own, or the rows one form read would stay cached for the
    next) and a multi-value field (Django sets its sub-widgets' attributes per form)."""

    def __deepcopy__(self, memo):
        return {name: _copied(field, memo) for name, field in self.items()}


def _copied(field: forms.Field, memo) -> forms.Field:
    if isinstance(field, forms.ModelChoiceField | forms.MultiValueField):
        return copy.deepcopy(field, memo)
    return copy.copy(field)


class StructureFilterForm(forms.Form):
    """Resolves whose structure is read (`self.root`) from the user and `participant`."""

    request = None  # set by StructureFilter.form
    root: Investor | None = None

    def clean(self):
        cleaned = super().clean()
        request = self.request
        user = getattr(request, "user", None)
        chosen = cleaned.get("participant")
        if "participant" in self.errors:
            return cleaned
        if chosen is not None:
            if not (user and user.is_staff):
                self.add_error("participant", _("Only staff may choose whose structure to read."))
            else:
                self.root = chosen
            return cleaned
        self.root = request_structure_root(request) if user else None
        if self.root is None and user is not None and user.is_staff:
            self.add_error(
                "participant", _("Choose a participant: staff may read anyone's structure.")
            )
        return cleaned


class StructureFilter(django_filters.FilterSet):
    participant = ParticipantFilter(
        queryset=Investor.objects.participants().order_by("name"),
        method="filter_participant",
        label=_("Participant"),
        help_text="Whose structure to read (an investor who is a participant). Required for "
        "staff who are not participants themselves (400 without it); a participant passing it "
        "gets a 400.",
    )
    overdue = StrictBooleanFilter(
        method="filter_overdue",
        label=_("Overdue payments"),
        help_text="true: only clients with an overdue payment; false: only those without.",
    )
    days_left_lte = IntegerFilter(
        method="filter_days_left_lte",
        min_value=-DAYS_BOUND,
        max_value=DAYS_BOUND,
        label=_("Days left at most"),
        help_text="Clients whose grace deadline is at most this many days away.",
    )
    asked_for_help = StrictBooleanFilter(
        method="filter_asked_for_help",
        label=_("Asked for help"),
        help_text="true: only clients with an open help request; false: only those without.",
    )
    plan_status = django_filters.ChoiceFilter(
        choices=PlanStatus.choices,
        method="filter_plan_status",
        label=_("Plan status"),
        help_text="Clients with at least one plan in this status.",
    )
    level_lte = IntegerFilter(
        field_name="level",
        lookup_expr="lte",
        min_value=1,
        max_value=MAX_DEPTH,
        label=_("Level at most"),
        help_text="1: direct clients only.",
    )
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=SEARCH_MAX_LENGTH,
        label=_("Search"),
        help_text="Part of a name, phone number or e-mail address.",
    )
    bucket = django_filters.ChoiceFilter(
        choices=BUCKET_CHOICES,
        method="filter_bucket",
        label=_("Days overdue"),
        help_text="Overdue clients in this bucket of days overdue; `past_deadline`: the grace "
        "deadline has passed and the scan has not yet run (docs/rules.md, Dashboard). Exactly "
        "the clients the dashboard counts in the bucket.",
    )
    segment = django_filters.ChoiceFilter(
        choices=SEGMENT_CHOICES,
        method="filter_segment",
        label=_("Activity"),
        help_text="Clients in this cell of the activity matrix (docs/rules.md, Activity segments).",
    )
    ordering = StructureOrdering()

    class Meta:
        model = Investor
        fields = [
            "participant",
            "overdue",
            "days_left_lte",
            "bucket",
            "asked_for_help",
            "plan_status",
            "level_lte",
            "search",
            "segment",
            "ordering",
        ]
        form = StructureFilterForm

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None, today=None):
        if queryset is None:
            queryset = Investor.objects.all()
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.today = today or business_today()
        self.base = None
        self.ordering_keys = ["urgency"]
        self.order = [*URGENCY_ORDER, *TIE_BREAK]

    def get_form_class(self):
        # No field depends on the request (the participants' queryset is the same for
        # everyone): the form class is built once, as a declared form's would be, not per
        # request. Each form still gets its own copies of the fields.
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            form_class.base_fields = FieldsCopiedPerForm(form_class.base_fields)
            cls._form_class = form_class
        return form_class

    @property
    def form(self):
        form = super().form
        form.request = self.request
        return form

    @property
    def root(self) -> Investor | None:
        """The participant whose structure is listed (valid only after validation)."""
        return self.form.root

    def filter_queryset(self, queryset):
        """Every row with every value, in order (the CSV export). Pages read `listing`."""
        base = self.filtered_base(queryset)
        if base is None:
            return queryset.none()
        return with_row_values(base, today=self.today).order_by(*self.order)

    def filtered_base(self, queryset=None):
        """The filtered `structure_base`, without the rows' values (None without a root).
        The filters see only the read model's columns: the rows' amounts and contacts are
        added after, to what is read."""
        if getattr(self, "base", None) is None:
            root = self.form.root
            if root is None:
                return None
            queryset = self.queryset.all() if queryset is None else queryset
            base = structure_base(queryset, root=root, today=self.today)
            self.base = super().filter_queryset(base)
        return self.base

    def listing(self) -> StructureListing | list:
        """The filtered rows as a sequence for a Paginator: each page reads its own rows
        (never the whole annotated queryset `qs`, the reference the tests compare with).
        The filtered queryset is built only when a statement it feeds was not compiled yet."""
        self.is_valid()  # validates the form, as `qs` does, and resolves the root
        root = self.form.root
        if root is None:
            return []
        self.order_by_keys(self.form.cleaned_data.get("ordering"))
        using = self.queryset.db
        return StructureListing(
            self.filtered_base,
            keys=self.ordering_keys,
            order=self.order,
            today=self.today,
            root=root,
            using=using,
            key=self.statement_key(using),
        )

    def order_by_keys(self, value) -> None:
        """The chosen ordering (`StructureOrdering`'s keys), most urgent first by default."""
        keys = [key for key in (value or ()) if key] or ["urgency"]
        self.ordering_keys = keys
        self.order = [*(expression for key in keys for expression in ORDERINGS[key]), *TIE_BREAK]

    def statement_key(self, using: str) -> tuple:
        """Everything the listing's SQL depends on: the database, the scope (its WHERE, whose
        repr names every value), the root, the day and the filters' cleaned values."""
        root = self.form.root
        values = tuple(
            sorted((name, _frozen(value)) for name, value in self.form.cleaned_data.items())
        )
        scope = self.queryset.query
        return (using, repr(scope.where), root.pk, root.path, root.depth, self.today, values)

    # -- the filters

    def filter_participant(self, queryset, name, value):
        return queryset  # already the root of the structure (filter_queryset)

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        is_overdue = overdue.is_overdue(self.today)
        return queryset.filter(is_overdue) if value else queryset.exclude(is_overdue)

    def filter_days_left_lte(self, queryset, name, value):
        if value is None:
            return queryset
        overdue_rows = queryset.filter(overdue.is_overdue(self.today))
        latest = self.today + dt.timedelta(days=value)
        if latest < overdue.latest_natural_deadline(self.today):
            # Below the grace horizon the stored earliest grace deadline is the row's own
            # (investors_with_overdue): a range of the read model, no per-row work.
            return overdue_rows.filter(earliest_grace_deadline__lte=latest)
        return overdue_rows.filter(days_left__lte=value)

    def filter_bucket(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(overdue.in_bucket(value, self.today))

    def filter_asked_for_help(self, queryset, name, value):
        if value is None:
            return queryset
        asked = Q(pk__in=HelpRequest.objects.open().values("investor_id"))
        return queryset.filter(asked) if value else queryset.exclude(asked)

    def filter_plan_status(self, queryset, name, value):
        if not value:
            return queryset
        if value == PlanStatus.ACTIVE:
            # An active plan always has an unpaid installment: the read model has its date.
            return queryset.filter(oldest_unpaid_due_date__isnull=False)
        return queryset.filter(pk__in=Plan.objects.filter(status=value).values("investor_id"))

    def filter_search(self, queryset, name, value):
        value = (value or "").strip()
        if not value:
            return queryset
        # Phones are stored in E.164: "98000 00001" finds +919800000001 by its digits.
        digits = "".join(ch for ch in value if ch.isascii() and ch.isdigit())
        by_digits = models.Q(phone__contains=digits) if len(digits) >= 4 else models.Q(pk__in=[])
        return queryset.filter(
            models.Q(name__icontains=value)
            | by_digits
            | models.Q(phone__icontains=value)
            | models.Q(email__icontains=value)
            | models.Q(messenger__icontains=value)
        )

    def filter_segment(self, queryset, name, value):
        if not value:
            return queryset
        # The segment reads payments and purchases per investor: computed for the root's
        # structure only, and kept out of the rows' own columns.
        structure = Investor.objects.in_structure_of(self.form.root)
        cell = segments.with_activity(structure, today=self.today).filter(segment=value)
        return queryset.filter(pk__in=cell.values("pk"))
