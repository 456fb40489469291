"""The shapes of retention's REST API (retention.api), declared once for validation and for
the OpenAPI document (archive.api_spec)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from archive.api_spec import DOC_TYPE, ISO_DATE, MRN, Answer, LongText, Request, Text
from archive.params import MAX_ID


class HoldScope(Request):
    mrns: list[MRN] = Field([], max_length=1000)
    document_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field([], max_length=1000)
    types: list[DOC_TYPE] = Field([], max_length=100)
    from_: ISO_DATE | None = Field(None, alias="from")
    to: ISO_DATE | None = None


class NewHold(Request):
    name: Text(200)
    reason: LongText(2000)
    issuer: Text(200) | None = None
    contact: Text(200)
    scope: HoldScope


class Reason(Request):
    reason: LongText(2000)


class NewPolicy(Request):
    doc_type: Text(64)
    reason: LongText(2000)
    preset: Text(40) | None = None
    name: Text(200) | None = None
    rules: dict[str, Any] | None = None
    source: Text(500) | None = None


class PolicyPreview(Request):
    doc_type: Text(64)
    preset: Text(40) | None = None
    rules: dict[str, Any] | None = None


class Approval(Request):
    pending_seen: int = Field(ge=0, le=10**9)


class HoldOut(Answer):
    id: int
    name: str


class Holds(Answer):
    holds: list[HoldOut]


class PolicyOut(Answer):
    doc_type: str


class Policies(Answer):
    policies: list[PolicyOut]


class Preview(Answer):
    pass


class BatchOut(Answer):
    id: int
    status: str


class Batches(Answer):
    batches: list[BatchOut]


class Excluded(Answer):
    item: int
    document_id: int
    status: str


class Executed(Answer):
    batch: int
    destroyed: int
