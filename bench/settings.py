"""The product's settings plus the benchmark's routes (the trivial endpoint and the stand-in
Structure view). Used by the harness and the gunicorn it starts, never in production."""

import os
import warnings

from backoffice.settings import *  # noqa: F403
from backoffice.settings import ALLOWED_HOSTS

ROOT_URLCONF = "bench.urls"
# The harness's in-process client.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]

# The benchmark serves no static files; WhiteNoise need not look for collectstatic's output.
warnings.filterwarnings("ignore", message="No directory at")

# The scan scaled out (bench.scale_out) times the scan, not the sending: the delivery
# messages its chunks hand over wait in a queue no worker reads.
if os.environ.get("BENCH_HOLD_DELIVERIES"):
    CELERY_TASK_ROUTES = {"reminders.deliver_batch": {"queue": "bench-held-deliveries"}}
