"""The one exception tree. Each class carries the HTTP status and a stable code; the
message is written for the person who has to act on it (a clerk, not a developer)."""

from __future__ import annotations


class ArchiveError(Exception):
    http_status = 500
    code = "archive_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ArchiveError):
    http_status = 400
    code = "bad_request"


class EmptyFile(BadRequest):
    code = "empty_file"


class MissingFile(BadRequest):
    code = "missing_file"


class UnsupportedMediaType(ArchiveError):
    http_status = 415
    code = "unsupported_media_type"


class NotFound(ArchiveError):
    http_status = 404
    code = "not_found"


class UnknownPatient(ArchiveError):
    http_status = 422
    code = "unknown_mrn"


class Conflict(ArchiveError):
    http_status = 409
    code = "conflict"


class DuplicateMRN(Conflict):
    code = "duplicate_mrn"


class DocumentOnHold(Conflict):
    """A legal hold forbids the change; the message names each hold and whom to call."""

    code = "document_on_hold"

    def __init__(self, document_id: int, holds: list[tuple[str, str]], action: str):
        named = " and ".join(f"'{name}' (contact: {contact})" for name, contact in holds)
        plural = len(holds) > 1
        super().__init__(
            f"Document {document_id} is under legal hold{'s' if plural else ''} {named}; it "
            f"cannot be {action} until {'these holds are' if plural else 'the hold is'} "
            "released."
        )
        self.document_id = document_id


class AuthenticationRequired(ArchiveError):
    http_status = 401
    code = "authentication_required"


class PermissionDenied(ArchiveError):
    http_status = 403
    code = "permission_denied"


class RestrictedRecord(PermissionDenied):
    """The patient's chart is restricted and the user holds no break-the-glass grant for it."""

    code = "restricted_record"

    def __init__(self, mrn: str):
        super().__init__(
            f"The record of patient {mrn} is restricted. To open it, break the glass and give "
            "your reason; your access will be reviewed by compliance."
        )
        self.mrn = mrn


class PayloadTooLarge(ArchiveError):
    http_status = 413
    code = "payload_too_large"


class DatabaseUnavailable(ArchiveError):
    """The database did not answer: stopped, restarting, unreachable. Nothing the request
    asked for was done; the same request may succeed once it is back."""

    http_status = 503
    code = "database_unavailable"


class AuditKeyError(ArchiveError):
    """The audit trail's MAC key is missing or unusable: no event can be written."""

    code = "audit_key"


# --- object storage -------------------------------------------------------------------


class StorageError(ArchiveError):
    code = "storage_error"


class ObjectNotFound(StorageError):
    http_status = 404
    code = "object_not_found"


class StorageUnavailable(StorageError):
    http_status = 503
    code = "storage_unavailable"


class ObjectLocked(StorageError):
    http_status = 409
    code = "object_locked"


class IntegrityError(StorageError):
    """Stored bytes no longer match their recorded SHA-256."""

    http_status = 500
    code = "integrity_error"
