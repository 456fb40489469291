"""The shapes of the records API (archive.records.api), declared once for validation and for
the OpenAPI document (archive.api_spec)."""

from __future__ import annotations

from pydantic import Field

from archive.api_spec import DOC_TYPE, ISO_DATE, MRN, Answer, LongText, Request, Text
from archive.auth.restricted import MIN_REASON_LENGTH


class Health(Answer):
    status: str
    database: str
    storage: str


class NewPatient(Request):
    mrn: MRN
    name: Text(200, min_length=1)
    dob: ISO_DATE
    date_of_death: ISO_DATE | None = None
    restricted: bool = False


class PatientDocument(Answer):
    id: int
    type: str
    date_of_service: str | None
    status: str
    versions: int


class PatientOut(Answer):
    mrn: str
    name: str
    dob: str
    date_of_death: str | None
    restricted: bool
    documents: list[PatientDocument] | None = None


class BreakGlass(Request):
    reason: LongText(2000) = Field(min_length=MIN_REASON_LENGTH)


class Grant(Answer):
    id: int
    mrn: str
    reason: str
    granted_at: str
    expires_at: str


class NewDocument(Request):
    mrn: MRN
    type: DOC_TYPE
    date_of_service: ISO_DATE | None = None
    department: Text(100) | None = None


class NewVersion(Request):
    reason: LongText(2000) = Field(min_length=1)


class Filed(Answer):
    id: int
    version: int
    sha256: str
    status: str
    duplicate_of: int | None = None


class VersionOut(Answer):
    number: int
    sha256: str
    size: int
    media_type: str
    created_at: str | None
    created_by: str
    reason: str


class PageOut(Answer):
    page: int
    blank: bool
    confidence: float | None
    skew: float | None = Field(
        description="Degrees (counter-clockwise) the scanned lines lay off level, measured "
        "before OCR; null when not measured (blank pages, pages with their own text)."
    )
    straightened: bool = Field(
        description="The page was turned level before OCR; its page image and searchable "
        "PDF page show it level, the original stays as scanned."
    )


class DocumentOut(Answer):
    id: int
    mrn: str
    type: str
    date_of_service: str | None
    department: str | None
    status: str
    versions: list[VersionOut]
    pages: list[PageOut]
    qc_flags: list[dict]
    holds: list[dict]
