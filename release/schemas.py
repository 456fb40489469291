"""The shapes of release of information's REST API (release.api), declared once for
validation and for the OpenAPI document (archive.api_spec)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from archive.api_spec import DOC_TYPE, ISO_DATE, MRN, Answer, LongText, Request, Text
from archive.params import MAX_ID, MAX_PAGE
from release.clocks import REQUEST_TYPES
from release.packet_schemas import PacketDocumentIn
from release.terms import LEGAL_BASES, REQUESTER_KINDS
from release.workflow import FULFILLED, STATUSES

USERNAME = Text(120, min_length=1)


class NewRequester(Request):
    kind: Literal[REQUESTER_KINDS]
    name: Text(200, min_length=1)
    address: LongText(1000) = ""
    contact: Text(200) = ""
    claim_number: Text(64) = ""


class AskedDocuments(Request):
    complete_chart: bool = False
    types: list[DOC_TYPE] = Field([], max_length=100)
    from_: ISO_DATE | None = Field(None, alias="from")
    to: ISO_DATE | None = None
    document_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field([], max_length=1000)


class NewRequest(Request):
    mrn: MRN
    # Further patients, when one request asks for several (a family's records).
    mrns: list[MRN] = Field([], max_length=20)
    requester: NewRequester
    legal_basis: Literal[LEGAL_BASES]
    received: ISO_DATE
    request_type: Literal[REQUEST_TYPES] = "records"
    purpose: LongText(2000) = ""
    # Left out: the complete chart.
    documents: AskedDocuments | None = None
    assignee: USERNAME | None = None


# Fulfilled is reached only through /fulfil, which records the disclosures.
CHANGEABLE = tuple(status for status in STATUSES if status != FULFILLED)


class StatusChange(Request):
    status: Literal[CHANGEABLE]
    reason: LongText(2000) = ""


class Extension(Request):
    notice_sent: ISO_DATE
    reason: LongText(2000)


class RequestOut(Answer):
    id: int
    status: str
    due: str
    allowed_next: list[str]


class Recipient(Request):
    name: Text(200, min_length=1)
    address: LongText(1000) = ""


class Fulfilment(Request):
    released: ISO_DATE = ""  # "" or left out: today
    description: LongText(2000)
    recipient: Recipient | None = None  # left out: the requester


class QueueQuery(Request):
    status: Literal[STATUSES] | None = None  # left out: every open request
    assignee: USERNAME | None = None
    due_before: ISO_DATE | None = None
    page: int | None = Field(None, ge=1, le=MAX_PAGE)


class QueuePage(Answer):
    total: int
    page: int
    pages: int
    requests: list[RequestOut]


class DisclosureQuery(Request):
    from_: ISO_DATE | None = Field(None, alias="from")
    to: ISO_DATE | None = None


class AccountingQuery(DisclosureQuery):
    # Exempt disclosures are left out of the patient's accounting (45 CFR 164.528(a)(1));
    # true lists them too, marked, for internal review.
    include_exempt: bool = False


class DisclosureOut(Answer):
    date: str
    recipient: str
    description: str
    purpose: str
    legal_basis: str
    exempt: bool


class DisclosureList(Answer):
    mrn: str
    disclosures: list[DisclosureOut]


# --- packets (issue 18 item 2) ---------------------------------------------------------------


class PacketRedaction(Request):
    document_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    page: Annotated[int, Field(ge=1, le=100_000)]
    # [x0, y0, x1, y1] as fractions of the page as shown; release.redaction checks the ranges,
    # so that the 400 says which box is wrong and how.
    box: list[float] = Field(min_length=4, max_length=4)


class NewPacket(Request):
    # An id, or {"id", "pages": "1-3,7"} (release.packet_schemas).
    documents: list[PacketDocumentIn] = Field(min_length=1, max_length=1000)
    redactions: list[PacketRedaction] = Field([], max_length=1000)


class PacketOut(Answer):
    id: int
    request: int
    pages: int
    sha256: str
    link: str
