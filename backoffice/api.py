"""The API's hall: the token endpoint, the schema and the router over the apps' views.

The shared pieces (errors, pagination, permissions) are in `backoffice.lib.api`.
"""

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from dashboard.api import DashboardView
from installments.api import PackageViewSet, PaymentViewSet, PlanViewSet
from reminders.api import ReminderViewSet
from structure.api import InvestorViewSet, StructureView

LOCKED_OUT = "Too many failed sign-in attempts for this username: try again later."


@extend_schema(
    request=AuthTokenSerializer,
    responses={
        200: inline_serializer("Token", {"token": serializers.CharField()}),
        429: inline_serializer("LockedOut", {"detail": serializers.CharField()}),
    },
    auth=[],
)
class TokenView(ObtainAuthToken):
    """`POST /api/auth/token/` with `username` and `password` answers `{"token": ...}`;
    after repeated failures for a username from one address, 429 for a while.

    django-axes refuses a locked-out sign-in inside authenticate(). On the site's and the
    admin's sign-in its middleware turns that into the lockout page; DRF hands authenticate()
    its own Request wrapper, where the middleware never sees the flag, so this view answers
    the 429 itself instead of "wrong password".
    """

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            if getattr(request, "axes_locked_out", False):
                return Response({"detail": LOCKED_OUT}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise


def api_urlpatterns() -> list:
    """The /api/ routes."""
    router = DefaultRouter()
    router.register("investors", InvestorViewSet, basename="investor")
    router.register("packages", PackageViewSet, basename="package")
    router.register("plans", PlanViewSet, basename="plan")
    router.register("payments", PaymentViewSet, basename="payment")
    router.register("reminders", ReminderViewSet, basename="reminder")
    return [
        path("auth/token/", TokenView.as_view(), name="api-token"),
        path("structure/", StructureView.as_view(), name="api-structure"),
        path("dashboard/", DashboardView.as_view(), name="api-dashboard"),
        path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
        path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
        *router.urls,
    ]
