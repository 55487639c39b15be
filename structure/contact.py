"""Click-to-contact: tel:, sms:, mailto:, WhatsApp and Telegram links for a Structure row,
with a ready message in the client's own language (what is owed, by when, what is lost)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote, urlencode

from django.conf import settings
from django.utils import translation
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext

from backoffice.lib import phones

NON_DIGITS = re.compile(r"\D")
TELEGRAM_HANDLE = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{4,31})$")


def format_money(amount: Decimal, currency: str) -> str:
    """`12,34,567.00 USD` in Hindi, `1,234,567.00 USD` in English: the active language's."""
    return f"{number_format(amount, decimal_pos=2, force_grouping=True)} {currency}"


def contact_message(
    *,
    name: str,
    language: str,
    participant_name: str,
    currency: str,
    overdue_amount: Decimal,
    grace_deadline: dt.date | None,
    days_left: int | None,
) -> str:
    """The message a participant sends, in `language`; English where there is no catalogue."""
    with translation.override(language):
        values = {
            "name": name,
            "participant": participant_name,
            "amount": format_money(overdue_amount, currency),
            "deadline": date_format(grace_deadline) if grace_deadline else "",
        }
        if grace_deadline is None:
            return (
                gettext(
                    "Hello %(name)s, this is %(participant)s. I am checking in about your "
                    "installment plan: do you need anything from me?"
                )
                % values
            )
        if days_left is not None and days_left < 0:
            return (
                gettext(
                    "Hello %(name)s, this is %(participant)s. Your payment of %(amount)s is "
                    "overdue and the grace period ended on %(deadline)s: your plan can be "
                    "cancelled any day now, and the shares not yet credited to it never would be. "
                    "Please pay today."
                )
                % values
            )
        return (
            gettext(
                "Hello %(name)s, this is %(participant)s. Your payment of %(amount)s is overdue. "
                "Please pay by %(deadline)s: after that date your plan is cancelled and the shares "
                "not yet credited to it never will be."
            )
            % values
        )


@dataclass(frozen=True)
class ContactLinks:
    message: str
    tel: str = ""
    sms: str = ""
    mailto: str = ""
    whatsapp: str = ""
    telegram: str = ""


def whatsapp_number(phone: str, messenger: str) -> str:
    """Digits with the country code, as wa.me wants them: the messenger if it is a number,
    else the phone."""
    for candidate in (messenger, phone):
        if candidate and not candidate.startswith("@"):
            digits = NON_DIGITS.sub("", candidate)
            if len(digits) >= 8:
                return digits
    return ""


def _e164(phone: str) -> str:
    # Phones are stored in E.164; one written before that rule and not a number gives no
    # link at all, never a "tel:+".
    try:
        return phones.phone_e164(phone, region=settings.PHONE_REGION)
    except phones.ContactError:
        return ""


def contact_links(*, phone: str, email: str, messenger: str, message: str) -> ContactLinks:
    tel = _e164(phone)
    wa = whatsapp_number(phone, messenger)
    handle = TELEGRAM_HANDLE.match(messenger.strip()) if messenger.startswith("@") else None
    return ContactLinks(
        message=message,
        tel=f"tel:{tel}" if tel else "",
        sms=f"sms:{tel}?{urlencode({'body': message}, quote_via=quote)}" if tel else "",
        # The address is percent-encoded: a "?" or "&" in it must not start the query and
        # smuggle in a Bcc or a subject (RFC 6068).
        mailto=(
            f"mailto:{quote(email, safe='@')}?{urlencode({'body': message}, quote_via=quote)}"
            if email
            else ""
        ),
        whatsapp=f"https://wa.me/{wa}?{urlencode({'text': message}, quote_via=quote)}"
        if wa
        else "",
        telegram=f"https://t.me/{handle.group(1)}" if handle else "",
    )


def links_for_row(row, *, participant_name: str, currency: str) -> ContactLinks:
    """Links for a row of `structure_investors` (or any investor annotated `with_overdue`)."""
    message = contact_message(
        name=row.name,
        language=row.language,
        participant_name=participant_name,
        currency=currency,
        overdue_amount=row.overdue_amount,
        grace_deadline=row.grace_deadline,
        days_left=row.days_left,
    )
    return contact_links(phone=row.phone, email=row.email, messenger=row.messenger, message=message)
