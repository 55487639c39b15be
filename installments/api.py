"""Packages, plans and payments over HTTP: thin views over `installments.services` and the
Plan querysets. Every rule is the services' and `rules`'; this module parses and renders."""

import datetime as dt

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from backoffice.lib.api import BusinessDayMixin, IsStaffOrReadOnly, Pagination, is_schema_generation
from backoffice.lib.errors import shown
from clients.models import Investor
from clients.selectors import visible_investors

from . import rules
from .fields import MONEY
from .filters import PaymentFilter, PlanFilter
from .models import (
    Allocation,
    Installment,
    Package,
    Payment,
    Plan,
    ShareLedgerEntry,
)
from .services import payment_record, plan_create, plan_hold, plan_release_hold, plan_restore

MONEY_ERRORS = {
    "invalid": "Give an amount of money such as '300.00'.",
    "max_digits": "Give an amount of money such as '300.00': at most {max_digits} digits.",
}


def money(**kwargs) -> serializers.DecimalField:
    """Money as JSON carries it: a string with two decimals ("333.34")."""
    return serializers.DecimalField(**MONEY, error_messages=MONEY_ERRORS, **kwargs)


@extend_schema_field({"type": "string", "example": "300.00", "pattern": r"^\d+(\.\d{1,2})?$"})
class MoneyInput(serializers.CharField):
    """Money as a JSON string ("300.00"); a JSON number is refused, as on the contact log
    (0.1 + 0.2 is not money). The amount itself is `rules.parse_money`'s to judge."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Give the amount as a string such as '300.00'.")
        try:
            return rules.parse_money(super().to_internal_value(data))
        except rules.RuleError as error:
            raise serializers.ValidationError(shown(error)) from None


# Digits with one "/" or "." at most. Fraction() also reads exponents, and "1e-999999999"
# would have it build a number with a billion digits: refused before it gets there.


@extend_schema_field({"type": "string", "example": "2/3", "pattern": r"^\d+/\d+$"})
class FractionField(serializers.Field):
    """An exact fraction: "2/3", or a decimal string such as "0.5" (answered as "1/2").

    JSON numbers are refused: 0.6667 is not 2/3.
    """

    default_error_messages = {
        "not_a_string": "Give the fraction as a string such as '2/3' or '0.5'.",
        "invalid": "{value!r} is not a fraction such as '2/3' or '0.5'.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        try:
            return rules.parse_fraction(data)
        except rules.RuleError as error:
            raise serializers.ValidationError(shown(error), code="invalid") from None

    def to_representation(self, value):
        # A package built with a string default holds "2/3" until it is read back.
        return rules.format_fraction(rules.parse_fraction(value))


# ---------------------------------------------------------------------------- packages


class PackageSerializer(serializers.ModelSerializer):
    final_payment_fraction = FractionField(required=False)

    class Meta:
        model = Package
        fields = [
            "id",
            "name",
            "shares",
            "price",
            "installment_count",
            "final_payment_fraction",
            "is_active",
        ]

    def validate_price(self, value):
        try:
            return rules.parse_money(value)
        except rules.RuleError as error:
            raise serializers.ValidationError(shown(error)) from None

    def validate(self, attrs):
        try:
            rules.check_installment_count(attrs["price"], attrs["installment_count"])
        except rules.RuleError as error:
            raise serializers.ValidationError({"installment_count": [shown(error)]}) from None
        return attrs


class PackageViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Packages on sale. Anyone signed in reads them; staff add them."""

    queryset = Package.objects.all()
    serializer_class = PackageSerializer
    permission_classes = [IsStaffOrReadOnly]
    pagination_class = Pagination


# ---------------------------------------------------------------------------- plans


class InstallmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Installment
        fields = ["number", "due_date", "amount", "paid_amount", "paid_on"]


class LedgerEntrySerializer(serializers.ModelSerializer):
    payment_reference = serializers.CharField(
        source="payment.reference", read_only=True, allow_null=True
    )

    class Meta:
        model = ShareLedgerEntry
        fields = ["kind", "shares", "credited_on", "payment", "payment_reference", "promotion"]


class PlanSerializer(serializers.ModelSerializer):
    """A plan with its overdue state on the business day, read from the
    `Plan.objects.with_overdue(today)` annotations."""

    final_payment_fraction = FractionField(read_only=True)
    overdue = serializers.BooleanField(read_only=True)
    overdue_amount = money(read_only=True)
    oldest_overdue_due_date = serializers.DateField(read_only=True, allow_null=True)
    grace_deadline = serializers.DateField(read_only=True, allow_null=True)
    days_left = serializers.IntegerField(read_only=True, allow_null=True)
    on_hold_until = serializers.SerializerMethodField(
        help_text="The end of the plan's hold while it is on hold (active, hold not over); "
        "null otherwise, also for a plan paid off or cancelled during its hold."
    )
    shares_credited = serializers.IntegerField(read_only=True)
    installments = InstallmentSerializer(many=True, read_only=True)
    ledger = LedgerEntrySerializer(many=True, read_only=True)

    class Meta:
        model = Plan
        fields = [
            "id",
            "investor",
            "package",
            "status",
            "purchased_on",
            "first_due_date",
            "price",
            "shares",
            "share_price",
            "final_payment_fraction",
            "overdue",
            "overdue_amount",
            "oldest_overdue_due_date",
            "grace_deadline",
            "days_left",
            "on_hold_until",
            "hold_reason",
            "completed_on",
            "cancelled_on",
            "shares_credited",
            "installments",
            "ledger",
        ]
        read_only_fields = fields

    def get_on_hold_until(self, plan: Plan) -> dt.date | None:
        # The `on_hold` annotation is `Plan.is_on_hold` on the business day.
        return plan.hold_until if plan.on_hold else None


class PlanCreateSerializer(serializers.Serializer):
    investor = serializers.PrimaryKeyRelatedField(queryset=Investor.objects.all())
    package = serializers.PrimaryKeyRelatedField(queryset=Package.objects.all())
    first_due_date = serializers.DateField()

    def validate(self, attrs):
        # The schedule runs installment_count − 1 months past the first due date; past the
        # year 9999 there is no calendar date to give the last installments.
        try:
            rules.add_months(attrs["first_due_date"], attrs["package"].installment_count - 1)
        except (ValueError, OverflowError):
            raise serializers.ValidationError(
                {"first_due_date": ["The schedule from this date runs past the year 9999."]}
            ) from None
        return attrs


class PlanRestoreSerializer(serializers.Serializer):
    reason = serializers.CharField()


class PlanHoldSerializer(serializers.Serializer):
    until = serializers.DateField()
    reason = serializers.CharField()


class PlanReleaseHoldSerializer(serializers.Serializer):
    reason = serializers.CharField()


class PlanViewSet(
    BusinessDayMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Installment plans with their schedule, overdue state and share ledger.

    Staff see every plan and act on them; a participant reads the plans of their structure.
    """

    serializer_class = PlanSerializer
    permission_classes = [IsStaffOrReadOnly]
    pagination_class = Pagination
    filterset_class = PlanFilter

    state_changes = ("restore", "hold", "release_hold")

    def get_queryset(self):
        if is_schema_generation(self):
            return Plan.objects.none()
        user = self.request.user
        plans = Plan.objects.all()
        if not user.is_staff:
            plans = plans.filter(investor__in=visible_investors(user))
        if self.action in self.state_changes:
            # The service locks and re-reads the row; the answer is read afresh by _answer.
            return plans
        return self.with_read_model(plans)

    def filter_queryset(self, queryset):
        # The filters describe the list. A plan's own URL names that plan whatever the query
        # string says (and the state changes' queryset has no `overdue` to filter on).
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def with_read_model(self, plans):
        return plans.with_overdue(self.today).prefetch_related(
            Prefetch("installments", queryset=Installment.objects.order_by("number")),
            Prefetch(
                "ledger",
                queryset=ShareLedgerEntry.objects.select_related("payment").order_by("id"),
            ),
        )

    def _act(self, request, input_serializer, service) -> Response:
        """A state change on one plan: validate the input, call the service, answer the plan."""
        plan = self.get_object()
        serializer = input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = service(plan=plan, **serializer.validated_data, today=self.today, actor=request.user)
        return self._answer(plan)

    def _answer(self, plan: Plan, code=status.HTTP_200_OK) -> Response:
        """The plan as it is now, with its overdue state re-read for today."""
        plan = self.with_read_model(Plan.objects.filter(pk=plan.pk)).get()
        return Response(PlanSerializer(plan).data, status=code)

    @extend_schema(request=PlanCreateSerializer, responses={201: PlanSerializer})
    def create(self, request, *args, **kwargs):
        serializer = PlanCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = plan_create(**serializer.validated_data, today=self.today, actor=request.user)
        return self._answer(plan, status.HTTP_201_CREATED)

    @extend_schema(request=PlanRestoreSerializer, responses={200: PlanSerializer})
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        """Bring a cancelled plan back, with a written reason (kept in the audit trail)."""
        return self._act(request, PlanRestoreSerializer, plan_restore)

    @extend_schema(request=PlanHoldSerializer, responses={200: PlanSerializer})
    @action(detail=True, methods=["post"])
    def hold(self, request, pk=None):
        """No cancellation and no reminders until `until` (inclusive)."""
        return self._act(request, PlanHoldSerializer, plan_hold)

    @extend_schema(request=PlanReleaseHoldSerializer, responses={200: PlanSerializer})
    @action(detail=True, methods=["post"], url_path="release-hold")
    def release_hold(self, request, pk=None):
        """End a hold before its date, with a written reason."""
        return self._act(request, PlanReleaseHoldSerializer, plan_release_hold)


# ---------------------------------------------------------------------------- payments


class AllocationSerializer(serializers.ModelSerializer):
    installment_number = serializers.IntegerField(source="installment.number", read_only=True)

    class Meta:
        model = Allocation
        fields = ["installment_number", "amount"]


class CreditSerializer(serializers.ModelSerializer):
    class Meta:
        model = ShareLedgerEntry
        fields = ["kind", "shares", "credited_on"]


class PaymentSerializer(serializers.ModelSerializer):
    allocations = AllocationSerializer(many=True, read_only=True)
    credits = CreditSerializer(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "plan",
            "amount",
            "received_on",
            "reference",
            "recorded_at",
            "allocations",
            "credits",
        ]
        read_only_fields = fields


class PaymentCreateSerializer(serializers.Serializer):
    plan = serializers.PrimaryKeyRelatedField(queryset=Plan.objects.all())
    # The shape of a money amount (digits, at most two places, no NaN or infinity); whether
    # it is an amount the plan accepts (positive, not absurd, within the balance) is the
    # service's to say.
    amount = MoneyInput()
    received_on = serializers.DateField()
    reference = serializers.CharField(max_length=Payment._meta.get_field("reference").max_length)

    def validate_amount(self, value):
        # Positive and not absurd is known without the plan: said together with the other
        # fields' errors. Within the plan's balance is the service's to say.
        try:
            return rules.parse_money(value)
        except rules.RuleError as error:
            raise serializers.ValidationError(shown(error)) from None


class PaymentViewSet(
    BusinessDayMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Payments and how each was allocated. Posting is idempotent by `reference`."""

    serializer_class = PaymentSerializer
    permission_classes = [IsStaffOrReadOnly]
    pagination_class = Pagination
    filterset_class = PaymentFilter

    def get_queryset(self):
        if is_schema_generation(self):
            return Payment.objects.none()
        user = self.request.user
        payments = Payment.objects.all()
        if not user.is_staff:
            payments = payments.filter(plan__investor__in=visible_investors(user))
        return payments.prefetch_related(
            Prefetch("allocations", queryset=Allocation.objects.select_related("installment")),
            Prefetch("credits", queryset=ShareLedgerEntry.objects.order_by("id")),
        )

    @extend_schema(
        request=PaymentCreateSerializer,
        responses={
            201: PaymentSerializer,
            200: OpenApiResponse(PaymentSerializer, description="A replay: posted nothing."),
            400: OpenApiResponse(description="`{field: [message]}`: the payment is refused."),
            409: OpenApiResponse(description="`{reference: [message]}`: reference reused."),
        },
        description=(
            "201 when the payment is posted. The same `reference` again with the same plan, "
            "amount and received date answers 200 with the original payment and posts "
            "nothing; the same `reference` with other content is a 409."
        ),
    )
    def create(self, request, *args, **kwargs):
        serializer = PaymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = payment_record(**serializer.validated_data, today=self.today, actor=request.user)
        payment = self.get_queryset().get(pk=result.payment.pk)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(PaymentSerializer(payment).data, status=code)
