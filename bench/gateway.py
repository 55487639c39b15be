"""A local fake SMS/messenger gateway for the delivery measurement: it answers like the
gateway `reminders.channels.HttpGateway` posts to (JSON body, `Authorization: Bearer`,
`Idempotency-Key`), after a small fixed latency, so the figure measures the product's
pipeline (claim, facts, render, send, record) rather than the fake.

One thread per connection (the product opens one per message), so two workers sending at
once are never queued behind each other here.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LATENCY_SECONDS = 0.010


class FakeGateway:
    def __init__(self, latency: float = LATENCY_SECONDS):
        self.latency = latency
        self.accepted: dict[str, int] = {}  # Idempotency-Key → requests
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Idempotency-Key", "")
                if not key or not self.headers.get("Authorization", "").startswith("Bearer "):
                    self.send_error(400, "Idempotency-Key and a bearer token are required")
                    return
                reference = body.get("reference") or body.get("biz_opaque_callback_data")
                if reference != key:
                    self.send_error(400, "the reference does not match the Idempotency-Key")
                    return
                with gateway.lock:
                    gateway.in_flight += 1
                    gateway.most_in_flight = max(gateway.most_in_flight, gateway.in_flight)
                time.sleep(gateway.latency)
                with gateway.lock:
                    gateway.in_flight -= 1
                    gateway.accepted[key] = gateway.accepted.get(key, 0) + 1
                answer = json.dumps({"id": key, "status": "queued"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.accepted.clear()
            self.most_in_flight = 0

    def delivered(self) -> set[str]:
        with self.lock:
            return set(self.accepted)
