"""The two endpoints the benchmark serves besides the product's.

`hello` is the floor for `api_vs_hello`: the same middleware stack, no authentication, no
database. `StructureStandInView` answers `?overdue=true&page=N` over the queryset the Structure
is built on (in_structure_of → with_level → with_overdue, most urgent first), so the harness
measures the read before the Structure endpoint exists; the harness points at that endpoint
instead once it does (bench.measure.STRUCTURE_PATH).
"""

from django.http import Http404, JsonResponse
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated

from backoffice.lib.api import BusinessDayMixin, Pagination
from clients.models import Investor
from installments.read_model import investors_with_overdue, with_overdue_amount


def hello(request):
    return JsonResponse({"hello": "world"})


class StructureRowSerializer(serializers.ModelSerializer):
    level = serializers.IntegerField()
    overdue = serializers.BooleanField()
    overdue_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    oldest_overdue_due_date = serializers.DateField(allow_null=True)
    grace_deadline = serializers.DateField(allow_null=True)
    days_left = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Investor
        fields = [
            "id",
            "name",
            "level",
            "phone",
            "email",
            "overdue",
            "overdue_amount",
            "oldest_overdue_due_date",
            "grace_deadline",
            "days_left",
        ]


class StructureStandInView(BusinessDayMixin, generics.ListAPIView):
    serializer_class = StructureRowSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = Pagination

    def get_queryset(self):
        root = Investor.objects.filter(user_id=self.request.user.pk).first()
        if root is None:
            raise Http404
        rows = with_overdue_amount(
            investors_with_overdue(
                Investor.objects.in_structure_of(root).with_level(root), today=self.today
            ),
            today=self.today,
        )
        overdue = self.request.query_params.get("overdue")
        if overdue in ("true", "false"):
            rows = rows.filter(overdue=overdue == "true")
        return rows.order_by("days_left", "id")
