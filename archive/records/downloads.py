"""Streaming stored bytes to a client, verified as they go, with their checksum in a
``Digest`` header (RFC 3230) so the client can check its copy too; and a file made for the
request (a CSV, a letter) handed over as an attachment."""

from __future__ import annotations

import base64
from collections.abc import Iterator

from flask import Response, stream_with_context

from archive.auth.permissions import Principal
from archive.extensions import archive
from archive.records.reading import open_original

EXTENSIONS = {
    "application/pdf": "pdf",
    "image/tiff": "tif",
    "image/png": "png",
    "image/jpeg": "jpg",
}


def verified_download(
    chunks: Iterator[bytes],
    *,
    sha256: str,
    size: int,
    media_type: str,
    filename: str,
    attachment: bool = True,
) -> Response:
    digest = base64.b64encode(bytes.fromhex(sha256)).decode()
    disposition = "attachment" if attachment else "inline"
    return Response(
        stream_with_context(chunks),
        mimetype=media_type,
        headers={
            "Digest": f"sha-256={digest}",
            "Content-Length": str(size),
            "Content-Disposition": f'{disposition}; filename="{filename}"',
        },
    )


def original_response(principal: Principal, document_id: int, number: int) -> Response:
    version, chunks = open_original(archive(), principal, document_id, number)
    extension = EXTENSIONS.get(version.media_type, "bin")
    return verified_download(
        chunks,
        sha256=version.sha256,
        size=version.size,
        media_type=version.media_type,
        filename=f"document-{document_id}-v{number}.{extension}",
    )


def attachment(data: bytes, media_type: str, filename: str) -> Response:
    """``data`` as a download named ``filename`` (callers pass names of [A-Za-z0-9._-]: no
    quoting), never cached: what is made for one request may name a patient."""
    return Response(data, mimetype=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
