"""The OCR pipeline's one exception. Every failure of an external program, of decoding a
page, or of a worker process reaches callers as an `OcrError` raised from its cause."""

from __future__ import annotations

from archive.errors import ArchiveError


class OcrError(ArchiveError):
    """A page or document could not be turned into text. The message says what a clerk
    can do about it; the chained cause keeps the technical detail for the log."""

    http_status = 500
    code = "ocr_failed"
