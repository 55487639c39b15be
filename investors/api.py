"""The investor's own API (`/api/me/…`) and the participants' help requests
(`/api/help-requests/`): thin views over `investors.selectors`, `structure.help` and
`reminders.services.preferences`."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.lib.api import BusinessDayMixin, Pagination, is_schema_generation
from clients.models import Language
from clients.selectors import investor_of, structure_scope
from installments.api import PlanSerializer
from installments.models import Plan, PromotionKind
from reminders.models import Channel
from reminders.services.preferences import investor_preferences_set
from structure import api as structure_api
from structure.help import (
    CONTACT_VIA_MAX_LENGTH,
    MESSAGE_MAX_LENGTH,
    help_request_answer,
    help_request_ask,
)
from structure.models import HelpRequest

from .selectors import my_plans, opted_out_channels
from .services import invitation_send

NOT_AN_INVESTOR = OpenApiResponse(description="The signed-in user is not an investor.")
NOT_SIGNED_IN = OpenApiResponse(description="Not signed in.")


class HelpRequestSerializer(serializers.ModelSerializer):
    answered_by = serializers.CharField(
        source="answered_by.get_username", read_only=True, allow_null=True
    )
    investor_name = serializers.CharField(source="investor.name", read_only=True)

    class Meta:
        model = HelpRequest
        fields = [
            "id",
            "plan",
            "investor",
            "investor_name",
            "message",
            "contact_via",
            "times_asked",
            "asked_at",
            "last_asked_at",
            "answered_at",
            "answered_by",
        ]
        read_only_fields = fields


class BonusSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=PromotionKind.choices)
    promotion = serializers.CharField()
    percentage = serializers.DecimalField(max_digits=5, decimal_places=2)
    shares = serializers.IntegerField()
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        allow_null=True,
        help_text="What one payment today must be to earn it; null for the on-time bonus.",
    )


class MyPlanSerializer(PlanSerializer):
    shares_to_come = serializers.IntegerField()
    shares_lost_if_cancelled = serializers.IntegerField()
    help_request = HelpRequestSerializer(allow_null=True)

    class Meta(PlanSerializer.Meta):
        fields = [
            *PlanSerializer.Meta.fields,
            "shares_to_come",
            "shares_lost_if_cancelled",
            "help_request",
        ]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    language = serializers.ChoiceField(choices=Language.choices)
    time_zone = serializers.CharField()
    opted_out_channels = serializers.ListField(child=serializers.ChoiceField(Channel.choices))
    is_participant = serializers.BooleanField()
    plans = MyPlanSerializer(many=True)
    bonuses_within_reach = BonusSerializer(many=True)


class PreferencesSerializer(serializers.Serializer):
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    opted_out_channels = serializers.ListField(
        child=serializers.ChoiceField(Channel.choices), required=False, allow_empty=True
    )
    time_zone = serializers.CharField(required=False, allow_blank=True, max_length=64)


class AskSerializer(serializers.Serializer):
    plan = serializers.IntegerField()
    message = serializers.CharField(required=False, allow_blank=True, max_length=MESSAGE_MAX_LENGTH)
    contact_via = serializers.CharField(
        required=False, allow_blank=True, max_length=CONTACT_VIA_MAX_LENGTH
    )


def _signed_in_investor(request):
    investor = investor_of(request.user)
    if investor is None:
        raise NotFound("You are not an investor.")
    return investor


def me_body(investor, *, today, is_participant: bool) -> dict:
    items = my_plans(investor, today=today)
    plans = []
    for item in items:
        plan = item.plan
        plan.shares_to_come = item.shares_to_come
        plan.shares_lost_if_cancelled = (
            item.stake.lost_if_cancelled if plan.status == "active" else 0
        )
        plan.help_request = item.help_request
        plans.append(plan)
    return {
        "id": investor.pk,
        "name": investor.name,
        "language": investor.language,
        "time_zone": investor.time_zone,
        "opted_out_channels": opted_out_channels(investor),
        "is_participant": is_participant,
        "plans": plans,
        "bonuses_within_reach": [
            {"plan": item.plan.pk, **bonus.__dict__} for item in items for bonus in item.bonuses
        ],
    }


class MeView(BusinessDayMixin, APIView):
    """The signed-in investor: their plans (the plan detail's fields, plus what is still to
    come and what a cancellation would lose) and the bonuses within reach."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeSerializer, 401: NOT_SIGNED_IN, 404: NOT_AN_INVESTOR})
    def get(self, request):
        investor = _signed_in_investor(request)
        body = me_body(investor, today=self.today, is_participant=investor.user_id is not None)
        return Response(MeSerializer(body).data)


class PreferencesView(BusinessDayMixin, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=PreferencesSerializer,
        responses={
            200: MeSerializer,
            400: OpenApiResponse(description="`{field: [message]}`: a value is refused."),
            401: NOT_SIGNED_IN,
            404: NOT_AN_INVESTOR,
        },
    )
    def patch(self, request):
        """Language, channels opted out of, time zone (quiet hours). Reminders follow from
        the next one."""
        investor = _signed_in_investor(request)
        serializer = PreferencesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        investor_preferences_set(investor=investor, **serializer.validated_data)
        investor.refresh_from_db()
        body = me_body(investor, today=self.today, is_participant=investor.user_id is not None)
        return Response(MeSerializer(body).data)


class AskForHelpView(BusinessDayMixin, APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=AskSerializer,
        responses={
            201: OpenApiResponse(HelpRequestSerializer, description="A new request."),
            200: OpenApiResponse(
                HelpRequestSerializer, description="Added to the plan's open request."
            ),
            400: OpenApiResponse(description="`{field: [message]}`: e.g. not your plan."),
            401: NOT_SIGNED_IN,
            404: NOT_AN_INVESTOR,
        },
    )
    def post(self, request):
        """Ask the participant for help with one of your plans. One open request per plan:
        asking again adds the message to it. The participant is told through the outbox."""
        investor = _signed_in_investor(request)
        serializer = AskSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        plan = Plan.objects.filter(pk=data["plan"], investor=investor).first()
        if plan is None:
            raise serializers.ValidationError({"plan": [_("This is not one of your plans.")]})
        request_ = help_request_ask(
            investor=investor,
            plan=plan,
            today=self.today,
            message=data.get("message", ""),
            contact_via=data.get("contact_via", ""),
        )
        code = status.HTTP_201_CREATED if request_.times_asked == 1 else status.HTTP_200_OK
        return Response(HelpRequestSerializer(request_).data, status=code)


class HelpRequestViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Help requests: a participant's open ones (their structure's), staff every open one."""

    serializer_class = HelpRequestSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = Pagination

    def get_queryset(self):
        if is_schema_generation(self):
            return HelpRequest.objects.none()
        scope = structure_scope(self.request.user, request=self.request)
        requests = HelpRequest.objects.select_related("investor", "answered_by")
        if not self.request.user.is_staff:
            requests = requests.filter(investor__in=scope)
        if self.action == "list":
            requests = requests.open()
        return requests.order_by("asked_at", "id")

    @extend_schema(
        request=None,
        responses={
            200: HelpRequestSerializer,
            401: NOT_SIGNED_IN,
            404: OpenApiResponse(description="Not a request of your structure."),
            409: OpenApiResponse(description="Already answered."),
        },
    )
    @action(detail=True, methods=["post"])
    def answer(self, request, pk=None):
        """Mark the request answered (time to answer is recorded)."""
        answered = help_request_answer(request=self.get_object(), by=request.user)
        return Response(HelpRequestSerializer(answered).data)


class InvitationSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=[Channel.EMAIL, Channel.SMS])


class InvitationSentSerializer(serializers.Serializer):
    investor = serializers.IntegerField()
    channel = serializers.CharField()
    expires_at = serializers.DateTimeField()


class InvestorViewSet(structure_api.InvestorViewSet):
    """Investors, with their contact log and the invitation to sign in."""

    @extend_schema(
        request=InvitationSerializer,
        responses={
            201: InvitationSentSerializer,
            400: OpenApiResponse(description="`{channel: [message]}`: e.g. no email on file."),
            401: NOT_SIGNED_IN,
            403: OpenApiResponse(description="Only staff invite."),
            404: OpenApiResponse(description="No such investor."),
            409: OpenApiResponse(description="They can sign in already, or were invited today."),
        },
    )
    @action(detail=True, methods=["post"])
    def invitation(self, request, pk=None):
        """Send the investor a link (email or SMS, through the outbox) to choose their own
        username and password for My plans; valid for INVITATION_VALID_HOURS, used once."""
        investor = self.get_object()
        serializer = InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sent = invitation_send(
            investor=investor,
            channel=serializer.validated_data["channel"],
            by=request.user,
            today=self.today,
        )
        body = {"investor": investor.pk, "channel": sent.channel, "expires_at": sent.expires_at}
        return Response(InvitationSentSerializer(body).data, status=status.HTTP_201_CREATED)
