"""GET /api/v1/openapi.json: the OpenAPI 3 document of /api/v1, built from the routes and their
``@operation`` declarations (archive.api_spec), so the document and the code cannot drift."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from pydantic import BaseModel
from werkzeug.routing import IntegerConverter, Rule

from archive.api_spec import ERRORS, OPERATION_ATTRIBUTE, Error, Operation
from archive.auth.guards import ACCESS_ATTRIBUTE, public
from archive.params import MAX_ID

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")
API_PREFIX = "/api/v1"
_SCHEMA_REF = "#/components/schemas/{model}"


@bp.route("/openapi.json")
@public  # the shape of the API, no patient data
def document():
    return jsonify(openapi_document(current_app))


def api_rules(app: Flask) -> list[Rule]:
    return sorted((rule for rule in app.url_map.iter_rules()
                   if rule.rule.startswith(API_PREFIX + "/")), key=lambda rule: rule.rule)


def openapi_document(app: Flask) -> dict:
    schemas: dict[str, Any] = {}
    schemas["Error"] = _schema(Error, "serialization", schemas)
    paths: dict[str, dict] = {}
    for rule in api_rules(app):
        view = app.view_functions[rule.endpoint]
        declared: Operation | None = getattr(view, OPERATION_ATTRIBUTE, None)
        if declared is None:
            continue  # test_openapi fails for an undeclared API route
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix(API_PREFIX))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                app, rule, view, declared, schemas)
    return {
        "openapi": "3.0.3",
        "info": {"title": "ChartVault API", "version": "1",
                 "description": "The medical records archive. Send an API token as "
                 "'Authorization: Bearer <token>' (created by an administrator). Errors come "
                 "as {\"error\": {\"code\", \"message\"}}."},
        "servers": [{"url": API_PREFIX}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(app: Flask, rule: Rule, view, declared: Operation, schemas: dict) -> dict:
    result: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_"),
        "summary": declared.summary,
        "parameters": _path_parameters(app, rule) + _query_parameters(declared, schemas),
        "responses": _responses(declared, schemas),
    }
    if getattr(view, ACCESS_ATTRIBUTE, None) == "public":
        result["security"] = []
    else:
        result["security"] = [{"bearer": []}]
        result["description"] = f"Needs the permission {getattr(view, ACCESS_ATTRIBUTE)}."
    body = _request_body(declared, schemas)
    if body:
        result["requestBody"] = body
    return result


def _path_parameters(app: Flask, rule: Rule) -> list[dict]:
    parameters = []
    for name, converter in rule._converters.items():  # noqa: SLF001 - werkzeug has no accessor
        if isinstance(converter, IntegerConverter):
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        else:
            schema = {"type": "string", "minLength": 1, "maxLength": 80,
                      "pattern": "^[A-Za-z0-9._-]+$"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _query_parameters(declared: Operation, schemas: dict) -> list[dict]:
    if declared.query is None:
        return []
    schema = _schema(declared.query, "validation", schemas)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": field}
            for name, field in schema["properties"].items()]


def _request_body(declared: Operation, schemas: dict) -> dict | None:
    if declared.body is not None:
        return {"required": True, "content": {"application/json": {
            "schema": _ref(declared.body, "validation", schemas)}}}
    if declared.form is not None or declared.file:
        schema = (_schema(declared.form, "validation", schemas) if declared.form
                  else {"type": "object", "properties": {}})
        schema = {**schema, "properties": dict(schema.get("properties", {}))}
        schema.pop("title", None)
        if declared.file:
            schema["properties"]["file"] = {"type": "string", "format": "binary"}
            schema["required"] = [*schema.get("required", []), "file"]
        return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    return None


def _responses(declared: Operation, schemas: dict) -> dict:
    error = {"content": {"application/json": {"schema": {"$ref": _SCHEMA_REF.format(
        model="Error")}}}}
    responses: dict[str, Any] = {
        str(status): {"description": why, **error} for status, why in ERRORS.items()}
    success: dict[str, Any] = {"description": "done"}
    if declared.answer is not None:
        success["content"] = {"application/json": {
            "schema": _ref(declared.answer, "serialization", schemas)}}
    else:
        success["content"] = {declared.media_type: {"schema": {"type": "string",
                                                               "format": "binary"}}}
    responses[str(declared.status)] = success
    return responses


def _ref(model: type[BaseModel], mode: str, schemas: dict) -> dict:
    name = model.__name__
    if name not in schemas:
        schemas[name] = _schema(model, mode, schemas)
    return {"$ref": _SCHEMA_REF.format(model=name)}


def _schema(model: type[BaseModel], mode: str, schemas: dict) -> dict:
    """The model's JSON schema, its nested models moved into components."""
    schema = model.model_json_schema(mode=mode, ref_template=_SCHEMA_REF)
    for name, nested in schema.pop("$defs", {}).items():
        schemas.setdefault(name, _openapi_30(nested))
    return _openapi_30(schema)


def _openapi_30(schema: Any) -> Any:
    """Pydantic writes JSON Schema 2020-12; OpenAPI 3.0 spells an optional value
    ``nullable`` instead of anyOf [..., null], and has no ``const``."""
    if isinstance(schema, list):
        return [_openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: _openapi_30(value) for key, value in schema.items()}
    options = schema.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        schema.pop("anyOf")
        if len(rest) == 1 and "$ref" not in rest[0]:
            schema.update(rest[0])
        else:
            schema["anyOf"] = rest
        schema["nullable"] = True
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    return schema
