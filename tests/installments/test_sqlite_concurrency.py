"""Finding 2: on the embedded database, parallel writes wait for each other instead of
failing with "database is locked" (and losing the payment)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installments.sqlite_parallel import PARALLEL

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL", "").startswith("postgres")),
    reason="the embedded database's locking: runs in the SQLite pass",
)


def test_twenty_parallel_payments_logins_and_sign_ins_on_sqlite_all_succeed(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'parallel.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "SECRET_KEY": "parallel-test-secret",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "LOG_LEVEL": "ERROR",
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "false",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.installments.sqlite_parallel"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout)
    assert sorted(answers["payments"]) == [201] * PARALLEL
    assert sorted(answers["tokens"]) == [200] * PARALLEL
    # The same reference twenty times at once: posted once, the others answered as replays.
    assert sorted(answers["same"]) == [200] * (PARALLEL - 1) + [201]
    assert answers["posted"] == [PARALLEL + 1]
    assert sorted(answers["logins"]) == [201] * PARALLEL
    assert answers["logins_made"] == [PARALLEL]
