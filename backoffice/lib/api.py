"""What every API endpoint shares: the error translation, pagination, permissions and the
business day of a request. The apps' `api.py` modules import these; `backoffice.api` wires
the apps' views under /api/.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.functional import cached_property
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from backoffice.lib.dates import business_today
from backoffice.lib.errors import DomainError


def exception_handler(exc, context):
    """The one place where a refusal by the rules becomes an HTTP answer.

    A DomainError is a 400 with `{field: [message]}`; a conflict with something already
    recorded (a reused payment reference, a login that already exists) is a 409.
    """
    if isinstance(exc, DomainError):
        set_rollback()
        code = status.HTTP_409_CONFLICT if exc.code == "conflict" else status.HTTP_400_BAD_REQUEST
        return Response(exc.as_field_errors(), status=code)
    if isinstance(exc, DjangoValidationError):
        # A model validator reached from a view: still the client's input, never a 500.
        exc = ValidationError(as_serializer_error(exc))
    return drf_exception_handler(exc, context)


class Pagination(PageNumberPagination):
    """`{count, next, previous, results}`, with a client-chosen page size up to a bound.

    Both are whole numbers within bounds, or a 400 naming the parameter: DRF's own paginator
    answers `?page=abc` with a 404 and reads `?page_size=null` or `0` as "the default". A page
    past the last one is a 404: that page does not exist.
    """

    page_size_query_param = "page_size"
    max_page_size = 200
    max_page = 10_000_000

    def _bounded(self, request, name: str, upper: int) -> int | None:
        text = request.query_params.get(name)
        if text is None:
            return None
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= upper:
            raise ValidationError({name: [f"Give a whole number from 1 to {upper}."]})
        return int(text)

    def get_page_size(self, request):
        return self._bounded(request, self.page_size_query_param, self.max_page_size) or (
            self.page_size
        )

    def get_page_number(self, request, paginator):
        return self._bounded(request, self.page_query_param, self.max_page) or 1

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: self.max_page,
            self.page_size_query_param: self.max_page_size,
        }
        for parameter in parameters:
            parameter["schema"] = {
                "type": "integer",
                "minimum": 1,
                "maximum": bounds[parameter["name"]],
            }
        return parameters


class IsStaffOrReadOnly(BasePermission):
    """Any signed-in user may read (every queryset is scoped to what they may see);
    only staff may write.

    Decided before any object is looked up, so a refused write answers the same 403 whether
    the object exists or not.
    """

    message = "Only staff may do this."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or user.is_staff


class BusinessDayMixin:
    """`self.today`: the business date, computed once per request (a view lives one request),
    so the queryset's overdue read and the service a request calls agree on the day."""

    @cached_property
    def today(self):
        return business_today()


def is_schema_generation(view) -> bool:
    """drf-spectacular instantiates views without a real request to read their querysets."""
    return getattr(view, "swagger_fake_view", False)


ERROR_DESCRIPTIONS = {
    "400": "`{field: [message]}`: a parameter or a field is refused (malformed, out of range, "
    "or not allowed to this user).",
    "401": "No valid credentials: a missing, unknown, revoked or expired token.",
    "403": "Signed in, but this user may not do this (only staff write).",
    "404": "No such object for this user (what you may not see is a 404), or a page past the "
    "last one.",
    "415": "The body is not JSON, a form or a multipart form that can be read.",
    "409": "`{field: [message]}`: contradicts something already recorded (a reused reference, "
    "a username already taken).",
}
ERROR_SCHEMA = {"type": "object", "additionalProperties": True}
PUBLIC_OPERATIONS = {("/api/auth/token/", "post"), ("/api/schema/", "get")}


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the errors the shared
    pieces answer (validation, authentication, permissions, lookups, pages, conflicts), so a
    client reads every status code it can meet in the schema."""
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            codes = []
            if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
                codes.append("400")
            if "requestBody" in operation:
                codes.append("415")
            if (path, method) not in PUBLIC_OPERATIONS:
                codes += ["401", "403"]
            if "{" in path or any(p["name"] == "page" for p in parameters):
                codes.append("404")
            if method == "post" and "requestBody" in operation and "{" not in path:
                codes.append("409")
            if (method == "post" and path.endswith("/grant-login/")) or path.endswith("/login/"):
                codes.append("409")
            for code in codes:
                responses.setdefault(
                    code,
                    {
                        "description": ERROR_DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": ERROR_SCHEMA}},
                    },
                )
    return result
