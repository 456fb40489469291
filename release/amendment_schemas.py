"""The shapes of the amendment endpoints (release.amendment_api), declared once for
validation and for the OpenAPI document (archive.api_spec)."""

from __future__ import annotations

from archive.api_spec import Answer, LongText, Request


class AmendmentText(Request):
    # The amendment, the patient's statement or the hospital's rebuttal, as it is to be filed.
    text: LongText(20_000)


class AmendmentDenial(Request):
    reason: LongText(4000)  # the basis for the denial, stated in the letter


class FiledMaterial(Answer):
    kind: str
    label: str
    request: int
    document_id: int  # the document the request asked to amend
    filed_document: int  # the document filed for this step
    filed_at: str
    filed_by: str


class AmendmentStep(FiledMaterial):
    status: str  # the request's status afterwards
    link: str  # the filed document in the API


class AmendmentState(Answer):
    request: int
    status: str
    document: int | None
    materials: list[FiledMaterial]
