"""An investor's own choices for their reminders: language, channels, time zone."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from backoffice.lib.dates import validate_time_zone
from backoffice.lib.errors import DomainError
from clients.models import Investor, Language

from ..models import Channel, ChannelOptOut


@transaction.atomic
def investor_preferences_set(
    *,
    investor: Investor,
    language: str | None = None,
    opted_out_channels: list[str] | None = None,
    time_zone: str | None = None,
) -> Investor:
    """Change what is given (None leaves it). Reminders follow from the next one: the
    delivery reads the language, the opt-outs and the time zone when it sends."""
    fields = []
    if language is not None:
        if language not in Language.values:
            raise DomainError(
                _("“%(language)s” is not a language we write in.") % {"language": language},
                field="language",
            )
        investor.language = language
        fields.append("language")
    if time_zone is not None:
        try:
            validate_time_zone(time_zone)
        except ValidationError as error:
            raise DomainError(error.messages[0], field="time_zone") from None
        investor.time_zone = time_zone
        fields.append("time_zone")
    if fields:
        Investor.objects.filter(pk=investor.pk).update(**{f: getattr(investor, f) for f in fields})
    if opted_out_channels is not None:
        unknown = set(opted_out_channels) - set(Channel.values)
        if unknown:
            raise DomainError(
                _("Not a channel: %(channels)s.") % {"channels": ", ".join(sorted(unknown))},
                field="opted_out_channels",
            )
        ChannelOptOut.objects.filter(investor=investor).exclude(
            channel__in=opted_out_channels
        ).delete()
        for channel in opted_out_channels:
            ChannelOptOut.objects.get_or_create(investor=investor, channel=channel)
    return investor
