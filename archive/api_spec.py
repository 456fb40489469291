"""The REST API's shapes, declared once: each /api/v1 view names its request models (query,
JSON body, multipart form) and its answer with ``@operation``; the views read their input
through ``query_of``/``body_of``, which validate with pydantic and answer a 400 naming the
field; ``openapi_document`` turns the same declarations into the OpenAPI 3 document served at
/api/v1/openapi.json. A test walks app.url_map so no API route goes undeclared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from archive.errors import BadRequest
from archive.jsonbody import json_object
from archive.params import MAX_PAGE

OPERATION_ATTRIBUTE = "chartvault_operation"
# Printable text only: no NUL, no other control characters (a tab or newline is refused too).
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
DATE_PATTERN = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$"


def Text(max_length: int, *, min_length: int = 0, pattern: str = _PRINTABLE):  # noqa: N802
    """A string field of bounded length and allowed characters."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length,
                                            pattern=pattern)]


def LongText(max_length: int):  # noqa: N802
    """Free text that may span lines (a reason, a comment): no NUL or other controls."""
    return Annotated[str, StringConstraints(max_length=max_length,
                                            pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]


# A date, or "" for none (as an empty form field sends it).
ISO_DATE = Text(10, pattern=DATE_PATTERN)
MRN = Text(32, min_length=1, pattern=r"^[A-Za-z0-9-]{1,32}$")
DOC_TYPE = Text(64, min_length=2, pattern=r"^[a-z0-9_]{2,64}$")


class Request(BaseModel):
    """What a client sends: unknown fields are refused (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Request):
    page: int | None = Field(None, ge=1, le=MAX_PAGE)


class Answer(BaseModel):
    """What the archive answers; packages may add fields (DocumentSection), so more may come."""

    model_config = ConfigDict(extra="allow")


class ErrorDetail(Answer):
    code: str
    message: str


class Error(Answer):
    error: ErrorDetail


# Every operation may answer these, with the Error body.
ERRORS = {400: "the request is malformed or a value is out of range",
          401: "no valid API token", 403: "the token's role may not do this",
          404: "no such record", 409: "the record's state forbids it",
          413: "the body is larger than the archive accepts",
          415: "the file is not a supported scan", 422: "a value names nothing known",
          429: "too many requests",
          503: "a part of the archive (database, store, index) is unavailable"}


@dataclass(frozen=True)
class Operation:
    summary: str
    query: type[Request] | None = None
    body: type[Request] | None = None
    form: type[Request] | None = None  # multipart/form-data fields beside the file
    file: bool = False  # a multipart "file" field is required
    status: int = 200
    answer: type[Answer] | None = None
    media_type: str = "application/json"  # of the answer


def operation(summary: str, **declared) -> Any:
    """Declare a view's API operation (place it under ``@requires``)."""

    def decorate(view):
        setattr(view, OPERATION_ATTRIBUTE, Operation(summary, **declared))
        return view

    return decorate


Model = TypeVar("Model", bound=BaseModel)


def query_of(model: type[Model]) -> Model:
    """The URL's query arguments, validated (each argument given once)."""
    return _validated(model, {name: request.args.get(name) for name in request.args})


def body_of(model: type[Model]) -> Model:
    """The JSON body, validated (archive.jsonbody bounds its size and depth first)."""
    return _validated(model, json_object())


def form_of(model: type[Model]) -> Model:
    return _validated(model, {name: request.form.get(name) for name in request.form})


def _validated(model: type[Model], data: dict) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise BadRequest(_explain(err)) from None


def _explain(err: ValidationError) -> str:
    problems = []
    for problem in err.errors()[:3]:
        where = ".".join(str(part) for part in problem["loc"]) or "the body"
        message = problem["msg"]
        if problem["type"] == "missing":
            message = "is required"
        elif problem["type"] == "string_type":
            message = "must be text"
        elif problem["type"] == "string_pattern_mismatch":
            message = ("must be a date written YYYY-MM-DD"
                       if problem.get("ctx", {}).get("pattern") == DATE_PATTERN
                       else "contains characters that are not allowed here")
        problems.append(f"{where}: {message}")
    more = len(err.errors()) - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "") + "."
