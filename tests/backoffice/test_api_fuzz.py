"""Finding 9, and the API's promise of "never a 500": schemathesis generates requests for every
operation of /api/schema/, as staff and as a participant, and calls the WSGI app in-process.

Checks: no server error, and every status code answered is one the schema documents. The
number of examples per operation is bounded (SCHEMATHESIS_MAX_EXAMPLES, default 25), so a run
takes a minute or two per role and database. The counts go to
test-artifacts/schemathesis-<database>.json (CI prints them).
"""

import datetime as dt
import json
import os
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, connection
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error, status_code_conformance

from backoffice.wsgi import application
from tests.factories import InvestorFactory, StaffFactory, make_plan, participant

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
COUNTS: dict[str, Counter] = {}

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture(scope="module", autouse=True)
def _write_counts():
    yield
    database = connection.vendor
    ARTIFACTS.mkdir(exist_ok=True)
    summary = {
        role: {
            "operations": len(counts["operations"]),
            "cases": counts["cases"],
            "server_errors": counts["server_errors"],
            "undocumented_status": counts["undocumented_status"],
            "undocumented": sorted(key for key in counts if key.startswith("undocumented ")),
        }
        for role, counts in COUNTS.items()
    }
    (ARTIFACTS / f"schemathesis-{database}.json").write_text(json.dumps(summary, indent=2))


@pytest.fixture
def _connection_kept_open():
    """The WSGI app closes the database connection after each request, which would end the
    test's transaction: Django's own test client unhooks the same signal handler."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(params=["staff", "participant"])
def caller(request, db, _connection_kept_open):
    """A token for the role, over a small book: a structure with plans, a payment to replay."""
    root = participant("fuzz-participant", name="Fuzz Participant")
    client = InvestorFactory(name="Fuzz Client", sponsor=root)
    make_plan(investor=client, first_due_date=dt.date(2026, 1, 10), today=dt.date(2025, 12, 1))
    user = StaffFactory(username="fuzz-staff") if request.param == "staff" else root.user
    return request.param, Token.objects.create(user=user).key


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error_or_an_undocumented_status(case, caller):
    role, token = caller
    counts = COUNTS.setdefault(role, Counter(operations=set()))
    counts["operations"].add(case.operation.label)
    counts["cases"] += 1
    response = case.call(headers={"Authorization": f"Token {token}"})
    counts["server_errors"] += response.status_code >= 500
    documented = {str(code) for code in case.operation.definition.raw.get("responses", {})}
    # The unsupported-method probes (a PUT where only GET is defined: 405) are not the
    # operation's own answers.
    own_method = response.request.method == case.operation.method.upper()
    if own_method and str(response.status_code) not in documented:
        counts["undocumented_status"] += 1
        counts[f"undocumented {case.operation.label} {response.status_code}"] += 1
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
