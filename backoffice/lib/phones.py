"""Phone numbers and messenger handles, validated and written one way (phonenumbers, Google's
libphonenumber metadata): a phone is stored in E.164 (`+919812345678`), so tel:, sms: and
WhatsApp links are built from it as is, and search by phone finds one spelling."""

from __future__ import annotations

import re

import phonenumbers

TELEGRAM_HANDLE = re.compile(r"@[A-Za-z][A-Za-z0-9_]{4,31}")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class ContactError(ValueError):
    """The text is not a phone number (or a messenger handle) we can reach."""


def phone_e164(text: str, *, region: str) -> str:
    """`text` as E.164, read with `region` (ISO 3166 code) when it has no country code.
    Empty stays empty; anything that is not a valid number is a ContactError."""
    text = (text or "").strip()
    if not text:
        return ""
    if not any(ch.isdigit() for ch in text) or re.search(r"[A-Za-z=@|!]", text):
        raise ContactError(f"{text!r} is not a phone number: give it as +91 98123 45678.")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ContactError(f"{text!r} is not a phone number: give it as +91 98123 45678.") from None
    if not phonenumbers.is_valid_number(number):
        raise ContactError(f"{text!r} is not a valid phone number for its country.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def messenger_contact(text: str, *, region: str) -> str:
    """A Telegram handle (`@name`) as given, or a WhatsApp number in E.164."""
    text = (text or "").strip()
    if text.startswith("@"):
        if not TELEGRAM_HANDLE.fullmatch(text):
            raise ContactError(
                f"{text!r} is not a Telegram handle: @ and 5 to 32 letters, digits or _."
            )
        return text
    try:
        return phone_e164(text, region=region)
    except ContactError:
        raise ContactError(
            f"{text!r} is neither a WhatsApp number (+91 98123 45678) nor a Telegram handle "
            "(@name)."
        ) from None
