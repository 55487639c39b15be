import os

import pytest
from django.conf import settings
from django.db import connection
from django.utils import translation
from rest_framework.test import APIClient

from tests.factories import StaffFactory, participant

CI = os.environ.get("CI", "").lower() == "true"


def pytest_configure(config):
    """The test client and the live server speak plain HTTP: outside DEBUG the settings
    redirect it to HTTPS (tests/backoffice/test_deployment.py holds that default)."""
    from django.conf import settings

    settings.SECURE_SSL_REDIRECT = False
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # the programs tests start


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgres` need PostgreSQL's row locks and concurrent transactions.

    On SQLite they skip with a reason; in CI's PostgreSQL pass (REQUIRE_POSTGRES=1) a missing
    PostgreSQL is an error, never a skip.
    """
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    on_postgres = "postgresql" in engine
    if os.environ.get("REQUIRE_POSTGRES") == "1" and not on_postgres:
        raise pytest.UsageError(
            f"REQUIRE_POSTGRES=1 but DATABASE_URL does not point at PostgreSQL (engine {engine})."
        )
    if on_postgres:
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL: runs in the PostgreSQL pass (make test-postgres)"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Plain static storage (no collectstatic manifest in tests) and a fast password hasher."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _plan_writes_go_through_plans_changing(request):
    """Every statement that writes a plan or an installment runs inside
    `installments.read_model.plans_changing()`, which refreshes the investors' read model in
    the same transaction: a service that writes a plan any other way fails every test that
    calls it. Tests that set up odd states by hand are marked `raw_plan_writes`."""
    if "raw_plan_writes" in request.keywords:
        yield
        return
    from tests.plan_writes import plan_writes_guarded

    with plan_writes_guarded():
        yield


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def staff_client(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client


@pytest.fixture
def participant_investor(db):
    return participant("participant")


@pytest.fixture
def participant_client(participant_investor):
    client = APIClient()
    client.force_authenticate(participant_investor.user)
    return client


@pytest.fixture
def anonymous_client():
    return APIClient()


@pytest.fixture
def vendor():
    return connection.vendor


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    """A request's LocaleMiddleware leaves its language active in the thread afterwards (the
    next request sets its own); a test that asked in Hindi would leave the next test's
    messages, read outside a request, in Hindi."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _login_throttling_off(settings):
    """django-axes refuses authenticate() without a request, and the test client's login()
    calls it without one: throttling is off in tests unless a test asks for
    `login_throttling`. Every HTTP way in passes the request, so it is on in production."""
    settings.AXES_ENABLED = False


@pytest.fixture
def login_throttling(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
