"""The Structure and the contact log over HTTP: thin views over `structure.selectors` and
`structure.services`."""

from decimal import Decimal

from django.utils.translation import gettext as _
from django_filters import utils
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from backoffice.lib.api import BusinessDayMixin, Pagination, is_schema_generation
from backoffice.lib.filters import MAX_ID
from clients import api as clients_api
from clients.models import Investor
from clients.selectors import structure_scope
from installments.rules import CENT

from .filters import StructureFilter
from .models import ContactLogEntry, ContactOutcome, PromiseState
from .selectors import RowStatus, investor_contact_log
from .services import contact_log_record


class ContactLogEntrySerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.get_username", read_only=True, allow_null=True)
    promised_amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, read_only=True, allow_null=True
    )
    promise_state = serializers.ChoiceField(
        choices=PromiseState.choices,
        read_only=True,
        allow_null=True,
        help_text="For a promise to pay: pending, kept (the money arrived by the date) or "
        "broken (the date passed without it). Read from the payments.",
    )
    paid_toward_promise = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = ContactLogEntry
        fields = [
            "id",
            "investor",
            "author",
            "contacted_at",
            "contacted_on",
            "outcome",
            "promised_on",
            "promised_amount",
            "promise_state",
            "paid_toward_promise",
            "note",
        ]
        read_only_fields = fields


class MoneyStringField(serializers.CharField):
    """Money as a JSON string ("250.00"); a JSON number is refused (0.1 + 0.2 is not money).
    The amount itself is checked by the service's money rule."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Give the amount as a string such as '250.00'.")
        return super().to_internal_value(data)


class ContactLogInputSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=ContactOutcome.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    promised_on = serializers.DateField(required=False, allow_null=True)
    promised_amount = MoneyStringField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=32,
        help_text='Money as a string with at most two decimals, e.g. "250.00". Only with '
        '"promised".',
    )

    def validate(self, attrs):
        # Only a promise has a date and an amount: one sent with another outcome is a mistake
        # the caller should hear of, not a value the log drops.
        if attrs["outcome"] != ContactOutcome.PROMISED:
            stray = {
                name: [_("Only a promise to pay has this; the outcome is not “promised”.")]
                for name in ("promised_on", "promised_amount")
                if attrs.get(name) not in (None, "")
            }
            if stray:
                raise serializers.ValidationError(stray)
        return attrs


class InvestorViewSet(clients_api.InvestorViewSet):
    """Investors, with the contact log each one's participants keep."""

    @extend_schema(
        methods=["GET"],
        responses={200: ContactLogEntrySerializer(many=True)},
        summary="The investor's contact log, newest first",
    )
    @extend_schema(
        methods=["POST"],
        request=ContactLogInputSerializer,
        responses={201: ContactLogEntrySerializer},
        summary="Log a contact with the investor",
    )
    @action(
        detail=True,
        methods=["get", "post"],
        permission_classes=[IsAuthenticated],
        pagination_class=Pagination,
    )
    def contacts(self, request, pk=None):
        """What happened each time the investor was contacted. Their participants and staff
        read and write the log; never the investor themselves (a participant's own log holds
        their upline's notes about them)."""
        investor = self.get_object()
        if not structure_scope(request.user, request=request).filter(pk=investor.pk).exists():
            raise NotFound
        today = self.today
        if request.method == "POST":
            serializer = ContactLogInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            entry = contact_log_record(
                investor=investor, author=request.user, today=today, **serializer.validated_data
            )
            entry = investor_contact_log(investor, today=today).get(pk=entry.pk)
            return Response(ContactLogEntrySerializer(entry).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(investor_contact_log(investor, today=today))
        return self.get_paginated_response(ContactLogEntrySerializer(page, many=True).data)


# ---------------------------------------------------------------------------- structure


class LastContactSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=ContactOutcome.choices)
    at = serializers.DateTimeField()
    promised_on = serializers.DateField(allow_null=True)
    promised_amount = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    promise_state = serializers.ChoiceField(choices=PromiseState.choices, allow_null=True)


# One instance for every row: a serializer copies its declared fields when first used.
_LAST_CONTACT = LastContactSerializer()


def _money_text(value) -> str | None:
    if value is None:
        return None
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return f"{amount.quantize(CENT):f}"


def _date_text(value) -> str | None:
    return None if value is None else value.isoformat()


class StructureRowSerializer(serializers.Serializer):
    """One investor of the structure, as the API in the README lists it, plus `messenger`, `status`
    and `last_contact`. Every value is an annotation of the one list query."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    level = serializers.IntegerField()
    phone = serializers.CharField()
    email = serializers.CharField()
    messenger = serializers.CharField()
    overdue = serializers.BooleanField()
    overdue_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    oldest_overdue_due_date = serializers.DateField(allow_null=True)
    grace_deadline = serializers.DateField(allow_null=True)
    days_left = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=RowStatus.choices)
    asked_for_help = serializers.BooleanField(
        source="help_requested", help_text="The client has an open help request."
    )
    on_hold_until = serializers.DateField(
        allow_null=True,
        help_text="The latest day a plan of the client's is on hold to (its deadline waits "
        "until then); null when none is on hold.",
    )
    last_contact = serializers.SerializerMethodField()

    def to_representation(self, row) -> dict:
        """The row as the fields above write it, without a field object's call per value:
        a page is 20 to 100 rows of 15 values. `tests/structure/test_structure_api.py` holds
        it equal to DRF's own `Serializer.to_representation` of the same fields."""
        return {
            "id": row.id,
            "name": row.name,
            "level": row.level,
            "phone": row.phone,
            "email": row.email,
            "messenger": row.messenger,
            "overdue": bool(row.overdue),
            "overdue_amount": _money_text(row.overdue_amount),
            "oldest_overdue_due_date": _date_text(row.oldest_overdue_due_date),
            "grace_deadline": _date_text(row.grace_deadline),
            "days_left": row.days_left,
            "status": row.status,
            "asked_for_help": bool(row.help_requested),
            "on_hold_until": _date_text(row.on_hold_until),
            "last_contact": self.get_last_contact(row),
        }

    @extend_schema_field(LastContactSerializer(allow_null=True))
    def get_last_contact(self, row) -> dict | None:
        if row.contact_outcome is None:
            return None
        return _LAST_CONTACT.to_representation(
            {
                "outcome": row.contact_outcome,
                "at": row.contact_at,
                "promised_on": row.contact_promised_on,
                "promised_amount": row.contact_promised_amount,
                "promise_state": row.promise_state,
            }
        )


class StructureFilterBackend(DjangoFilterBackend):
    def get_filterset_kwargs(self, request, queryset, view):
        # The business day the view computed once for the whole request.
        return {**super().get_filterset_kwargs(request, queryset, view), "today": view.today}

    def filter_queryset(self, request, queryset, view):
        # The paginator reads the count and the page's rows from the listing, never the
        # whole annotated queryset.
        filterset = self.get_filterset(request, queryset, view)
        if not filterset.is_valid() and self.raise_exception:
            raise utils.translate_validation(filterset.errors)
        return filterset.listing()


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter(
                "participant",
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                description=StructureFilter.base_filters["participant"].extra["help_text"],
            )
        ]
    )
)
class StructureView(BusinessDayMixin, generics.ListAPIView):
    """The signed-in participant's structure (docs/rules.md, Structure visibility): every investor
    below them at any depth, with their overdue state and latest contact, filtered and ordered by
    `StructureFilter`. Most urgent first unless `ordering` says otherwise.

    Staff choose whose structure with `participant`; a participant passing it gets a 400.
    """

    serializer_class = StructureRowSerializer
    pagination_class = Pagination
    permission_classes = [IsAuthenticated]
    filter_backends = [StructureFilterBackend]
    filterset_class = StructureFilter

    def get_queryset(self):
        if is_schema_generation(self):
            return Investor.objects.none()
        # The outer bound of what this user may read; the filter narrows it to one structure.
        return structure_scope(self.request.user, request=self.request)
