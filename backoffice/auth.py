"""Login throttling for the API's token endpoint.

django-axes refuses a locked-out sign-in inside authenticate(); on the site's and the admin's
sign-in its middleware turns that into the lockout page (429). DRF hands authenticate() its
own Request wrapper, where axes leaves its "locked out" flag out of the middleware's sight, so
the token view answers the 429 itself instead of "wrong password".
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from backoffice.api import TokenView

LOCKED_OUT = "Too many failed sign-in attempts for this username: try again later."


@extend_schema(
    request=AuthTokenSerializer,
    responses={
        200: inline_serializer("Token", {"token": serializers.CharField()}),
        429: inline_serializer("LockedOut", {"detail": serializers.CharField()}),
    },
    auth=[],
)
class ThrottledTokenView(TokenView):
    """`POST /api/auth/token/` with `username` and `password` answers `{"token": ...}`;
    after repeated failures for a username from one address, 429 for a while."""

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            if getattr(request, "axes_locked_out", False):
                return Response({"detail": LOCKED_OUT}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise
