"""`GET /api/reminders/`: the outbox, read-only. Staff see every reminder; a participant those
sent to their structure or to themselves; anyone else none."""

from django.db.models import Q
from rest_framework import mixins, serializers, viewsets

from backoffice.lib.api import IsStaffOrReadOnly, Pagination, is_schema_generation
from clients.models import PATH_END, Investor

from .filters import ReminderFilter
from .models import Reminder


def visible_reminders(user):
    if user.is_staff:
        return Reminder.objects.all()
    root = Investor.objects.filter(user_id=user.pk).first() if user.is_authenticated else None
    if root is None:
        return Reminder.objects.none()
    # One range on the path index: the recipients in the participant's structure.
    in_structure = Q(recipient__path__gt=root.path, recipient__path__lt=root.path + PATH_END)
    return Reminder.objects.filter(in_structure | Q(recipient=root))


class ReminderSerializer(serializers.ModelSerializer):
    investor = serializers.IntegerField(source="recipient_id", read_only=True)
    recipient_name = serializers.CharField(source="recipient.name", read_only=True)

    class Meta:
        model = Reminder
        fields = [
            "id",
            "investor",
            "recipient_name",
            "kind",
            "channel",
            "plan",
            "installment",
            "digest_date",
            "queued_on",
            "scheduled_for",
            "status",
            "attempts",
            "last_error",
            "skip_reason",
            "sent_at",
        ]
        read_only_fields = fields


class ReminderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Reminders: filter by `plan`, `investor` (the recipient), `kind`, `status`, `channel`."""

    serializer_class = ReminderSerializer
    permission_classes = [IsStaffOrReadOnly]
    pagination_class = Pagination
    filterset_class = ReminderFilter

    def get_queryset(self):
        if is_schema_generation(self):
            return Reminder.objects.none()
        return visible_reminders(self.request.user).select_related("recipient").order_by("-id")
