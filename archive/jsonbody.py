"""Reading a JSON request body with limits: size, nesting depth, and none of the non-JSON
constants (NaN, Infinity) that Python's parser accepts by default. Each failure is a 400 or
413 that says what to fix, never a crash deep in the parser or in a service."""

from __future__ import annotations

import json

from flask import request

from archive.errors import BadRequest, PayloadTooLarge

MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 8
_OPENERS, _CLOSERS = b"[{", b"]}"


def json_object() -> dict:
    """The request's JSON object (Content-Type: application/json), checked before parsing."""
    if request.mimetype != "application/json":
        raise BadRequest("Send a JSON object with Content-Type: application/json.")
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise _too_large()
    raw = request.stream.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise _too_large()
    _check_depth(raw)
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"The body is not valid JSON ({err}).") from None
    if not isinstance(value, dict):
        raise BadRequest("Send a JSON object ({...}), not a list or a single value.")
    return value


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"A JSON body may be at most {MAX_JSON_BYTES // 1024} KiB.")


def _refuse_constant(name: str):
    raise BadRequest(f"{name} is not a JSON value; send a number or a string instead.")


def _check_depth(raw: bytes) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH before the recursive parser sees it."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.")
        elif byte in _CLOSERS:
            depth -= 1
