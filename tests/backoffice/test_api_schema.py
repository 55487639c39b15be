"""The OpenAPI schema, the interactive docs and the one place that turns refusals into HTTP."""

import re

import pytest
from django.core.management import call_command
from rest_framework.test import APIRequestFactory

from backoffice.lib.api import exception_handler
from backoffice.lib.errors import ConflictError, DomainError

pytestmark = pytest.mark.django_db

CONTRACT_PATHS = [
    "/api/auth/token/",
    "/api/investors/",
    "/api/investors/{id}/",
    "/api/investors/{id}/grant-login/",
    "/api/packages/",
    "/api/packages/{id}/",
    "/api/plans/",
    "/api/plans/{id}/",
    "/api/plans/{id}/restore/",
    "/api/plans/{id}/hold/",
    "/api/payments/",
    "/api/payments/{id}/",
]


def test_the_schema_endpoint_serves_openapi_with_every_contract_path(anonymous_client):
    response = anonymous_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in CONTRACT_PATHS:
        assert path in schema["paths"], path


def test_the_schema_states_the_contract_types(anonymous_client):
    schema = anonymous_client.get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    ).json()
    plan = schema["components"]["schemas"]["Plan"]["properties"]
    assert plan["overdue"]["type"] == "boolean"
    assert plan["overdue_amount"]["type"] == "string"
    assert plan["overdue_amount"]["format"] == "decimal"
    assert plan["days_left"] == {"type": "integer", "readOnly": True, "nullable": True}
    assert plan["grace_deadline"]["format"] == "date"
    assert plan["final_payment_fraction"]["type"] == "string"
    plan_filters = {p["name"]: p for p in schema["paths"]["/api/plans/"]["get"]["parameters"]}
    assert plan_filters["overdue"]["schema"]["type"] == "boolean"
    assert plan_filters["investor"]["schema"]["type"] == "integer"


def test_the_schema_generates_without_warnings_or_errors(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3")


def test_the_docs_page_renders_from_the_bundled_sidecar_without_the_internet(anonymous_client):
    response = anonymous_client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn.jsdelivr.net" not in page
    # Swagger UI's start-up script is a file of its own (the pages' CSP allows no inline one).
    script_url = re.search(r'<script src="([^"]*script=[^"]*)"', page).group(1)
    script = anonymous_client.get(script_url.replace("&amp;", "&"))
    assert "/api/schema/" in script.content.decode()


def _handle(exc):
    request = APIRequestFactory().post("/api/anything/")
    return exception_handler(exc, {"request": request, "view": None})


def test_a_domain_error_becomes_a_400_with_the_message_on_its_field():
    response = _handle(DomainError("The amount must be greater than zero.", field="amount"))
    assert response.status_code == 400
    assert response.data == {"amount": ["The amount must be greater than zero."]}


def test_a_domain_error_without_a_field_is_a_non_field_error():
    response = _handle(DomainError("No."))
    assert (response.status_code, response.data) == (400, {"non_field_errors": ["No."]})


def test_a_conflict_with_something_recorded_is_a_409_on_its_field():
    response = _handle(ConflictError("Reference used.", field="reference"))
    assert (response.status_code, response.data) == (409, {"reference": ["Reference used."]})


def test_a_django_validation_error_reaching_a_view_is_a_400_not_a_500():
    from django.core.exceptions import ValidationError

    response = _handle(ValidationError({"until": ["Bad date."]}))
    assert (response.status_code, response.data) == (400, {"until": ["Bad date."]})


def test_the_schema_documents_the_errors_each_operation_answers(anonymous_client):
    import yaml

    schema = yaml.safe_load(anonymous_client.get("/api/schema/").content)
    structure = schema["paths"]["/api/structure/"]["get"]
    assert {"200", "400", "401", "403", "404"} <= {str(code) for code in structure["responses"]}
    participant = next(p for p in structure["parameters"] if p["name"] == "participant")
    assert "Required for staff" in participant["description"]
    payments = schema["paths"]["/api/payments/"]["post"]["responses"]
    assert {"201", "200", "400", "409"} <= {str(code) for code in payments}
    page_size = next(
        p for p in schema["paths"]["/api/plans/"]["get"]["parameters"] if p["name"] == "page_size"
    )
    assert page_size["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
    token = schema["paths"]["/api/auth/token/"]
    assert {"400", "429"} <= {str(code) for code in token["post"]["responses"]}
    assert "204" in {str(code) for code in token["delete"]["responses"]}
