"""SMS and messenger gateways over HTTP, against a fake gateway started by the test."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reminders import channels
from reminders.channels import (
    HttpMessengerGateway,
    HttpSmsGateway,
    Outgoing,
    PermanentError,
    TransportError,
)

MESSAGE = Outgoing(to="+919800000001", subject="", text="Pay by 2025-03-29", reference="reminder-7")


@pytest.fixture
def gateway():
    """A local HTTP server that records requests and answers with `gateway.status`."""

    class State:
        status = 200
        requests: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            State.requests.append((self.path, dict(self.headers), json.loads(body)))
            self.send_response(State.status)
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    State.url = f"http://127.0.0.1:{server.server_address[1]}/send"
    yield State
    server.shutdown()
    server.server_close()


@pytest.fixture
def configured(settings, gateway):
    settings.SMS_GATEWAY_URL = gateway.url
    settings.SMS_GATEWAY_TOKEN = "sms-secret"
    settings.MESSENGER_GATEWAY_URL = gateway.url
    settings.MESSENGER_GATEWAY_TOKEN = "wa-secret"
    return gateway


def test_the_sms_gateway_posts_the_text_with_the_token_and_the_reference(configured):
    HttpSmsGateway("sms").send(MESSAGE)
    ((path, headers, body),) = configured.requests
    assert path == "/send"
    assert headers["Authorization"] == "Bearer sms-secret"
    assert headers["Idempotency-Key"] == "reminder-7"
    assert body == {"to": "+919800000001", "text": "Pay by 2025-03-29", "reference": "reminder-7"}


def test_the_messenger_gateway_posts_a_text_message(configured):
    HttpMessengerGateway("messenger").send(MESSAGE)
    ((_, headers, body),) = configured.requests
    assert headers["Authorization"] == "Bearer wa-secret"
    assert body["to"] == "+919800000001"
    assert body["text"] == {"body": "Pay by 2025-03-29"}


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_gateway_failure_that_may_pass_is_a_transport_error(configured, status):
    configured.status = status
    with pytest.raises(TransportError, match=str(status)):
        HttpSmsGateway("sms").send(MESSAGE)


@pytest.mark.parametrize("status", [400, 401, 422])
def test_a_gateway_refusal_is_permanent(configured, status):
    configured.status = status
    with pytest.raises(PermanentError, match=str(status)):
        HttpSmsGateway("sms").send(MESSAGE)


def test_an_unreachable_gateway_is_a_transport_error(settings):
    settings.SMS_GATEWAY_URL = "http://127.0.0.1:1/send"
    with pytest.raises(TransportError, match="unreachable"):
        HttpSmsGateway("sms").send(MESSAGE)


def test_a_gateway_without_a_url_cannot_send(settings):
    settings.SMS_GATEWAY_URL = ""
    with pytest.raises(PermanentError, match="SMS_GATEWAY_URL"):
        HttpSmsGateway("sms").send(MESSAGE)


def test_the_channel_backend_is_chosen_in_settings(settings, configured):
    settings.SMS_BACKEND = "reminders.channels.HttpSmsGateway"
    channels.send("sms", MESSAGE)
    assert len(configured.requests) == 1


def test_the_console_backend_prints_the_message(capsys):
    channels.ConsoleBackend("sms").send(MESSAGE)
    assert "sms to +919800000001" in capsys.readouterr().out
