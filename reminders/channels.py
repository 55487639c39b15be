"""Delivery channels. Email goes through Django's email backends; SMS and messenger through
the backends named in settings (SMS_BACKEND, MESSENGER_BACKEND):

- `ConsoleBackend` prints the message (development, the demo);
- `LocmemBackend` keeps it in `outbox` (tests);
- `HttpSmsGateway` / `HttpMessengerGateway` post it to an HTTP gateway configured by URL and
  token (SMS_GATEWAY_URL/TOKEN, MESSENGER_GATEWAY_URL/TOKEN).

A backend raises `TransportError` for what may work later (network, timeouts, 5xx, 429) and
`PermanentError` for what never will (a refused number, a 4xx); the delivery task retries
the first with backoff and records the second for the admins.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import smtplib
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils.module_loading import import_string

from .models import Channel


class TransportError(Exception):
    """The message did not go out, and may if tried again later."""


class PermanentError(Exception):
    """The message can never go out as it is."""


@dataclass(frozen=True)
class Outgoing:
    to: str
    subject: str
    text: str
    # Sent along so a gateway (or a mail server, as Message-ID) can drop a repeat: a worker
    # that dies between sending and recording "sent" makes the next attempt send again.
    reference: str


class BaseBackend:
    # True when the backend passes `reference` to something that drops a repeat of it (an
    # HTTP gateway's Idempotency-Key): a send interrupted by a crash may then be retried.
    idempotent = False

    def send(self, message: Outgoing) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class ConsoleBackend(BaseBackend):
    """Prints the message to standard output, as Django's console email backend does."""

    def __init__(self, channel: str):
        self.channel = channel

    def send(self, message: Outgoing) -> None:
        sys.stdout.write(
            f"--- {self.channel} to {message.to} (ref {message.reference})\n{message.text}\n"
        )
        sys.stdout.flush()


class LocmemBackend(BaseBackend):
    """Keeps every message in `LocmemBackend.outbox` (class-wide, like django.core.mail's)."""

    outbox: list[tuple[str, Outgoing]] = []

    def __init__(self, channel: str):
        self.channel = channel

    def send(self, message: Outgoing) -> None:
        LocmemBackend.outbox.append((self.channel, message))


class HttpGateway(BaseBackend):
    """POSTs JSON to a gateway with `Authorization: Bearer <token>` and the reminder's
    reference as `Idempotency-Key`, so a retry after a crash is dropped by the gateway."""

    idempotent = True
    url_setting = ""
    token_setting = ""

    def __init__(self, channel: str):
        self.channel = channel
        self.url = getattr(settings, self.url_setting, "")
        self.token = getattr(settings, self.token_setting, "")
        if not self.url:
            raise PermanentError(f"{self.url_setting} is not set: {channel} cannot be sent.")

    def body(self, message: Outgoing) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def send(self, message: Outgoing) -> None:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(self.body(message)).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.token}",
                "Idempotency-Key": message.reference,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.REMINDER_GATEWAY_TIMEOUT):
                return
        except urllib.error.HTTPError as error:
            detail = error.read(500).decode(errors="replace")
            if error.code == 429 or error.code >= 500:
                raise TransportError(f"gateway answered {error.code}: {detail}") from None
            raise PermanentError(f"gateway refused ({error.code}): {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise TransportError(f"gateway unreachable: {error}") from None


class HttpSmsGateway(HttpGateway):
    """A plain JSON SMS gateway: `{"to", "text", "reference"}`."""

    url_setting = "SMS_GATEWAY_URL"
    token_setting = "SMS_GATEWAY_TOKEN"

    def body(self, message: Outgoing) -> dict:
        return {"to": message.to, "text": message.text, "reference": message.reference}


class HttpMessengerGateway(HttpGateway):
    """A messenger API in the shape of WhatsApp's Cloud API text messages."""

    url_setting = "MESSENGER_GATEWAY_URL"
    token_setting = "MESSENGER_GATEWAY_TOKEN"

    def body(self, message: Outgoing) -> dict:
        return {
            "messaging_product": "whatsapp",
            "to": message.to,
            "type": "text",
            "text": {"body": message.text},
            "biz_opaque_callback_data": message.reference,
        }


# The email connection a batch of deliveries shares (`sending()`): one SMTP session for the
# batch instead of one per message.
_email_connection: contextvars.ContextVar = contextvars.ContextVar("email_connection", default=None)


@contextlib.contextmanager
def sending():
    """Within the block, emails reuse one connection of the email backend (opened on the
    first message, closed at the end)."""
    email_connection = get_connection(timeout=settings.REMINDER_GATEWAY_TIMEOUT)
    token = _email_connection.set(email_connection)
    try:
        yield
    finally:
        _email_connection.reset(token)
        with contextlib.suppress(Exception):  # closing a broken session is not a failure
            email_connection.close()


def send_email(message: Outgoing) -> None:
    email = EmailMessage(
        subject=message.subject,
        body=message.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers={
            "Message-ID": f"<{message.reference}@{settings.REMINDER_MESSAGE_ID_DOMAIN}>",
            "X-Reminder": message.reference,
        },
    )
    try:
        shared = _email_connection.get()
        if shared is None:
            get_connection(timeout=settings.REMINDER_GATEWAY_TIMEOUT).send_messages([email])
        else:
            # Opened here, on the first message, so a mail server that is down is this
            # message's transport error; the backend keeps the session open while it is.
            shared.open()
            shared.send_messages([email])
    except smtplib.SMTPRecipientsRefused as error:
        raise PermanentError(f"the mail server refused the address: {error}") from None
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        raise TransportError(f"the mail server failed: {error}") from None


ONCE = "once"  # retried with the same idempotency key: the gateway drops a repeat
AT_LEAST_ONCE = "at-least-once"  # resent after a crash: a repeat is possible
AT_MOST_ONCE = "at-most-once"  # "uncertain" after a crash: an admin decides


def backend_class(channel: str) -> type:
    if channel == Channel.EMAIL:
        return import_string(settings.EMAIL_BACKEND)
    setting = {Channel.SMS: "SMS_BACKEND", Channel.MESSENGER: "MESSENGER_BACKEND"}[channel]
    return import_string(getattr(settings, setting))


def guarantee(channel: str) -> str:
    """What a send on `channel` interrupted by a crash becomes (README: the table)."""
    if getattr(backend_class(channel), "idempotent", False):
        return ONCE
    if channel in settings.REMINDER_AT_LEAST_ONCE_CHANNELS:
        return AT_LEAST_ONCE
    return AT_MOST_ONCE


def send(channel: str, message: Outgoing) -> None:
    if channel == Channel.EMAIL:
        send_email(message)
        return
    backend_class(channel)(channel).send(message)
