"""GET /api/dashboard/: the dashboard's figures for one structure or the whole book."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.lib.api import BusinessDayMixin
from installments.activity import Segment
from installments.rules import BUCKETS

from . import snapshots
from .figures import figures
from .selectors import ScopeRefused, request_scope


def _money():
    return serializers.DecimalField(max_digits=14, decimal_places=2)


def _share(**kwargs):
    return serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True, **kwargs)


class BucketSerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(choices=list(BUCKETS))
    clients = serializers.IntegerField()
    amount = _money()


class PromisesSerializer(serializers.Serializer):
    kept = serializers.IntegerField()
    broken = serializers.IntegerField()
    pending = serializers.IntegerField()


class TrendSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    cancelled_share = _share()


SegmentsSerializer = inline_serializer(
    "Segments", {name: serializers.IntegerField() for name in Segment.ALL}
)


class DashboardSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    clients = serializers.IntegerField()
    overdue_clients = serializers.IntegerField()
    overdue_by_bucket = BucketSerializer(many=True)
    invested = _money()
    cancelled = _money()
    cancelled_share = _share(help_text="The price of cancelled plans ÷ the price of all plans.")
    recovered_in_grace_30d = _money()
    cure_rate_30d = _share()
    promises = PromisesSerializer()
    first_contact_hours_median = serializers.DecimalField(
        max_digits=8, decimal_places=1, allow_null=True
    )
    first_contact_within_10h_share = _share()
    segments = SegmentsSerializer
    saved_this_month = serializers.IntegerField()
    cancelled_this_month = serializers.IntegerField()
    trend = TrendSerializer(many=True)


class DashboardView(BusinessDayMixin, APIView):
    """The dashboard's figures as of today (docs/rules.md, Dashboard): a participant's own
    structure; staff the whole book, or one participant's structure with `participant`."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "participant",
                OpenApiTypes.INT,
                description="Staff only: whose structure; without it, the whole book.",
            )
        ],
        responses={
            200: DashboardSerializer,
            400: inline_serializer("DashboardError", {"participant": serializers.ListField()}),
            401: inline_serializer("DashboardUnauthorized", {"detail": serializers.CharField()}),
            403: inline_serializer("DashboardForbidden", {"detail": serializers.CharField()}),
        },
        summary="The collections dashboard",
    )
    def get(self, request):
        try:
            scope = request_scope(request, request.query_params.get("participant"))
        except ScopeRefused as refused:
            if refused.status == 403:
                return Response({"detail": refused.message}, status=403)
            return Response({"participant": [refused.message]}, status=400)
        data = figures(root=scope.root, today=self.today)
        data.trend = snapshots.trend(
            root=scope.root, today=self.today, current=data.cancelled_share
        )
        return Response(DashboardSerializer(data).data)
