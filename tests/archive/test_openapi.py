"""The OpenAPI document of /api/v1: every API route declared, the document valid, and the API
behaving as it says (schemathesis generates requests from the document and checks each
answer: no server error, a documented status, content type and body)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from archive.api_spec import OPERATION_ATTRIBUTE
from archive.models import ROLES
from archive.openapi import api_rules
from tests.archive.test_cli import run  # noqa: F401 - the CLI fixture, on the same database

EXAMPLES = 8  # per operation and role
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


def test_every_api_route_is_declared(app):
    undeclared = [rule.rule for rule in api_rules(app)
                  if not hasattr(app.view_functions[rule.endpoint], OPERATION_ATTRIBUTE)
                  and rule.endpoint != "openapi.document"]
    assert undeclared == []


def test_the_document_is_valid_openapi_and_public(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    validate(document)
    assert "/patients" in document["paths"] and "/search" in document["paths"]
    patient = document["components"]["schemas"]["NewPatient"]
    assert patient["properties"]["name"]["maxLength"] == 200
    assert patient["additionalProperties"] is False


def test_a_request_outside_the_document_is_a_400_naming_the_field(client, people):
    response = client.post("/api/v1/patients", json={"mrn": "MRN-1", "name": "A, B",
                                                     "dob": "1990-01-01", "nickname": "x"},
                           headers=people.headers("clerk"))
    assert response.status_code == 400
    assert response.json["error"]["message"].startswith("nickname:")
    bad_date = client.post("/api/v1/patients", json={"mrn": "MRN-1", "name": "A, B",
                                                     "dob": "1 May 1990"},
                           headers=people.headers("clerk"))
    assert bad_date.json["error"]["message"] == "dob: must be a date written YYYY-MM-DD."


def test_the_api_keeps_to_its_document(app, people, filed, run):  # noqa: F811
    """Generated requests as each role (each may call some operations and gets a documented
    403 on the rest) against a small archive with one indexed document."""
    known = {"document_id": filed().document_id}
    assert run("reindex").exit_code == 0
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    reached: set[str] = set()
    for role in ROLES:
        generated_requests_conform(schema, people.headers(role), reached, known)
    # Generated values got past validation to real answers, not only 4xx.
    assert {"GET /health", "GET /audit", "GET /holds", "GET /documents/{document_id}"} <= reached


def generated_requests_conform(schema, headers: dict, reached: set[str], known: dict) -> None:
    """Each operation gets its own EXAMPLES requests, so an operation added elsewhere in the
    API never thins another's share; one whose path names a ``known`` parameter gets as many
    again with its real value, so that it answers with a document, not only with a 404."""
    for result in schema.get_all_operations():
        operation = result.ok()
        conforms_for(operation, operation.as_strategy(), headers, reached)()
        real = {name: value for name, value in known.items() if f"{{{name}}}" in operation.path}
        if real:
            conforms_for(operation, operation.as_strategy(path_parameters=real), headers,
                         reached)()


def conforms_for(operation, strategy, headers: dict, reached: set[str]):
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def conforms(case):
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        if response.status_code < 400:
            reached.add(operation.label)

    return conforms
