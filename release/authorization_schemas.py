"""The shapes of the signed-authorization part of the REST API (release.authorization_api),
declared once for validation and for the OpenAPI document (archive.api_spec)."""

from __future__ import annotations

from archive.api_spec import ISO_DATE, MRN, Answer, LongText, Request


class AuthorizationForm(Request):
    """Multipart fields beside the scan ("file")."""

    expires: ISO_DATE
    signed: ISO_DATE | None = None
    # Whose authorization it is, when the request concerns several patients.
    mrn: MRN | None = None


class Revocation(Request):
    revoked_on: ISO_DATE
    reason: LongText(2000)
    # Whose authorization is revoked, when the request concerns several patients.
    mrn: MRN | None = None


class AuthorizationOut(Answer):
    """One patient's authorization (after attaching or revoking), or, read back, whether
    every patient of the request has one and each one on file (``authorizations``)."""

    request: int
    on_file: bool


class OpenedOut(Answer):
    ts: str
    action: str


class BreakGlassAccessOut(Answer):
    user: str
    granted_at: str
    expires_at: str
    reason: str
    opened: list[OpenedOut]


class AccessReportOut(Answer):
    mrn: str
    accesses: list[BreakGlassAccessOut]
