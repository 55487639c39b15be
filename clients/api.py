"""Investors over HTTP: thin views over `clients.services` and the Investor querysets."""

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from backoffice.lib.api import BusinessDayMixin, IsStaffOrReadOnly, Pagination, is_schema_generation
from backoffice.lib.errors import DomainError

from .models import Investor
from .selectors import visible_investors
from .services import (
    contact_clean,
    investor_create,
    investor_grant_login,
    investor_move,
    participant_grant_login,
)


def _contact(field: str, value: str) -> str:
    """Stored as the model cleans it: a phone in E.164, a messenger number or handle."""
    try:
        return contact_clean(field, value)
    except DomainError as error:
        raise serializers.ValidationError(error.message) from None


class InvestorSerializer(serializers.ModelSerializer):
    sponsor = serializers.PrimaryKeyRelatedField(
        queryset=Investor.objects.all(), allow_null=True, required=False
    )
    is_participant = serializers.BooleanField(read_only=True)
    can_sign_in = serializers.BooleanField(read_only=True)

    def validate_phone(self, value: str) -> str:
        return _contact("phone", value)

    def validate_messenger(self, value: str) -> str:
        return _contact("messenger", value)

    class Meta:
        model = Investor
        fields = [
            "id",
            "name",
            "sponsor",
            "phone",
            "email",
            "messenger",
            "language",
            "time_zone",
            "is_participant",
            "can_sign_in",
        ]


class GrantLoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )


class GrantedLoginSerializer(serializers.Serializer):
    investor = serializers.IntegerField()
    username = serializers.CharField()


class InvestorViewSet(
    BusinessDayMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Investors. Staff see and write every one; a participant reads their own structure."""

    serializer_class = InvestorSerializer
    permission_classes = [IsStaffOrReadOnly]
    pagination_class = Pagination

    def get_queryset(self):
        if is_schema_generation(self):
            return Investor.objects.none()
        return visible_investors(self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = InvestorSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        investor = investor_create(**serializer.validated_data)
        return Response(InvestorSerializer(investor).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        """Edit contacts; a new `sponsor` moves the investor with their whole structure."""
        investor = self.get_object()
        serializer = InvestorSerializer(investor, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        with transaction.atomic():
            if "sponsor" in changes:
                investor = investor_move(investor=investor, sponsor=changes.pop("sponsor"))
            if changes:
                for name, value in changes.items():
                    setattr(investor, name, value)
                # Only the edited columns: a full save would write back a path and depth read
                # before a concurrent move of this subtree, and break the tree.
                investor.save(update_fields=list(changes))
        return Response(InvestorSerializer(investor).data)

    @extend_schema(request=GrantLoginSerializer, responses={201: GrantedLoginSerializer})
    @action(detail=True, methods=["post"], url_path="grant-login")
    def grant_login(self, request, pk=None):
        """Give the investor a back-office login: they become a participant."""
        investor = self.get_object()
        serializer = GrantLoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = participant_grant_login(investor=investor, **serializer.validated_data)
        body = {"investor": investor.pk, "username": user.get_username()}
        return Response(GrantedLoginSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=GrantLoginSerializer,
        responses={
            201: GrantedLoginSerializer,
            400: OpenApiResponse(description="`{field: [message]}`: username or password refused."),
            401: OpenApiResponse(description="Not signed in."),
            403: OpenApiResponse(description="Only staff give logins."),
            404: OpenApiResponse(description="No such investor."),
            409: OpenApiResponse(description="`{username: [message]}`: they can already sign in."),
        },
    )
    @action(detail=True, methods=["post"], url_path="login")
    def login(self, request, pk=None):
        """Give the investor a sign-in to their own plans ("My plans"), without making them a
        participant."""
        investor = self.get_object()
        serializer = GrantLoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = investor_grant_login(investor=investor, **serializer.validated_data)
        body = {"investor": investor.pk, "username": user.get_username()}
        return Response(GrantedLoginSerializer(body).data, status=status.HTTP_201_CREATED)
