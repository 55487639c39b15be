"""The API's hall: the token endpoint, the schema and the router over the apps' views.

The shared pieces (errors, pagination, permissions) are in `backoffice.lib.api`.
"""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from clients.tokens import api_token_issue, api_tokens_revoke
from dashboard.api import DashboardView
from installments.api import PackageViewSet, PaymentViewSet, PlanViewSet
from investors.api import (
    AskForHelpView,
    HelpRequestViewSet,
    InvestorViewSet,
    MeView,
    PreferencesView,
)
from reminders.api import ReminderViewSet
from structure.api import StructureView

LOCKED_OUT = "Too many failed sign-in attempts for this username: try again later."


class TokenView(ObtainAuthToken):
    """`POST /api/auth/token/` with `username` and `password` answers `{"token": ...}`;
    after repeated failures for a username from one address, 429 for a while.

    django-axes refuses a locked-out sign-in inside authenticate(). On the site's and the
    admin's sign-in its middleware turns that into the lockout page; DRF hands authenticate()
    its own Request wrapper, where the middleware never sees the flag, so this view answers
    the 429 itself instead of "wrong password".
    """

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            400: OpenApiResponse(description="`{field: [message]}`: wrong username or password."),
            429: inline_serializer("LockedOut", {"detail": serializers.CharField()}),
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except ValidationError:
            if getattr(request, "axes_locked_out", False):
                return Response({"detail": LOCKED_OUT}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise
        token = api_token_issue(user=serializer.validated_data["user"])
        return Response({"token": token.key})

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description="The token is revoked."),
            401: OpenApiResponse(description="No valid token or session."),
        },
        auth=[{"tokenAuth": []}, {"cookieAuth": []}],
    )
    def delete(self, request, *args, **kwargs):
        """Revoke your own token (sign out of the API everywhere)."""
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        api_tokens_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def api_urlpatterns() -> list:
    """The /api/ routes."""
    router = DefaultRouter()
    router.register("investors", InvestorViewSet, basename="investor")
    router.register("packages", PackageViewSet, basename="package")
    router.register("plans", PlanViewSet, basename="plan")
    router.register("payments", PaymentViewSet, basename="payment")
    router.register("reminders", ReminderViewSet, basename="reminder")
    router.register("help-requests", HelpRequestViewSet, basename="help-request")
    return [
        path("auth/token/", TokenView.as_view(), name="api-token"),
        path("structure/", StructureView.as_view(), name="api-structure"),
        path("me/", MeView.as_view(), name="api-me"),
        path("me/preferences/", PreferencesView.as_view(), name="api-me-preferences"),
        path("me/help-requests/", AskForHelpView.as_view(), name="api-me-help-requests"),
        path("dashboard/", DashboardView.as_view(), name="api-dashboard"),
        path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
        # The split view serves Swagger UI's start-up script as a file: the pages'
        # Content-Security-Policy allows no inline script.
        path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
        *router.urls,
    ]
