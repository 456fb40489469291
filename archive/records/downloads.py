"""Streaming a version's original to a client, with its checksum in a Digest header."""

from __future__ import annotations

import base64

from flask import Response, stream_with_context

from archive.app import archive
from archive.auth.permissions import Principal
from archive.records.service import open_original

EXTENSIONS = {
    "application/pdf": "pdf",
    "image/tiff": "tif",
    "image/png": "png",
    "image/jpeg": "jpg",
}


def original_response(principal: Principal, document_id: int, number: int) -> Response:
    version, chunks = open_original(archive(), principal, document_id, number)
    digest = base64.b64encode(bytes.fromhex(version.sha256)).decode()
    filename = f"document-{document_id}-v{number}.{EXTENSIONS.get(version.media_type, 'bin')}"
    return Response(
        stream_with_context(chunks),
        mimetype=version.media_type,
        headers={
            "Digest": f"sha-256={digest}",
            "Content-Length": str(version.size),
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )
