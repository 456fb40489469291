"""What a record's typed fields and a scan's bytes must look like: the patterns of an MRN
and a document type, and the scan formats the archive accepts. Shared with the packages
that check the same things earlier (the upload form, retention's policies and holds, the
intake validation)."""

from __future__ import annotations

import re

from archive.errors import BadRequest, UnsupportedMediaType

MRN_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,32}$")
DOC_TYPE_PATTERN = re.compile(r"^[a-z0-9_]{2,64}$")

# Magic numbers of the scan formats the archive accepts; the name a file was given
# says nothing reliable about what it is.
MAGIC = [
    (b"%PDF-", "application/pdf"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
]


def sniff_media_type(head: bytes) -> str:
    for magic, media_type in MAGIC:
        if head.startswith(magic):
            return media_type
    raise UnsupportedMediaType(
        "This file is not a PDF, TIFF, PNG or JPEG scan. Export the scan in one of those "
        "formats and upload it again."
    )


def checked_doc_type(doc_type: str | None) -> str:
    doc_type = (doc_type or "").strip().lower()
    if not DOC_TYPE_PATTERN.match(doc_type):
        raise BadRequest(
            "Give a document type of 2-64 lowercase letters, digits or underscores, "
            "e.g. discharge_summary."
        )
    return doc_type
