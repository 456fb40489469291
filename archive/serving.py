"""Limits at the socket: what a client may send and how long it may stay silent, whichever
server runs the app.

`chartvault serve` and tests/live.py run waitress with ``waitress_options``; gunicorn reads
gunicorn.conf.py, which takes its limits from here too. Both start from the same Settings, so
an installation refuses the same requests whether it runs embedded or in docker-compose.
"""

from __future__ import annotations

import socket
import struct

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from archive.config import Settings

MIB = 1024 * 1024
# MAX_UPLOAD_MB bounds the file (ingest.validation.ScanLimits says so to the clerk); the request
# carrying it also holds multipart boundaries and the small fields beside it (mrn, type, date).
# Without this margin a file just under the limit would be refused for its envelope.
FORM_OVERHEAD_BYTES = 64 * 1024
# A browser sends a few KiB of headers (the session cookie is the largest); 64 KiB leaves room
# for a proxy's X-Forwarded-* and still stops a client from parking megabytes in headers.
# waitress's default is 256 KiB; gunicorn bounds line and fields separately (gunicorn.conf.py).
MAX_HEADER_BYTES = 64 * 1024
# gunicorn's own ceiling for the request line (its default is 4094): long search URLs with
# every filter set must still fit.
MAX_REQUEST_LINE = 8190
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_BYTES = 8190


def request_body_limit(settings: Settings) -> int:
    """The largest request body accepted, in bytes: one upload and its form."""
    return settings.max_upload_mb * MIB + FORM_OVERHEAD_BYTES


def limit_request_bodies(app: Flask, settings: Settings) -> None:
    """Refuse, with 413, a request whose declared body is over the limit before reading it.

    Werkzeug applies MAX_CONTENT_LENGTH only when the body is first read, which is after the
    authentication and CSRF hooks and inside the view; this hook runs first, so the answer is
    413 whoever asks and not a byte of the body is read. Under gunicorn this is the only body
    limit (it hands the socket to the app unread); under waitress the server refuses first.
    Call before any other before_request hook is registered.
    """
    app.config["MAX_CONTENT_LENGTH"] = request_body_limit(settings)

    @app.before_request
    def refuse_declared_oversize():
        declared = request.content_length
        limit = request.max_content_length
        if declared is not None and limit is not None and declared > limit:
            raise RequestEntityTooLarge()


def waitress_options(settings: Settings) -> dict[str, int]:
    """Keyword arguments for waitress's ``serve``/``create_server`` (waitress/adjustments.py)."""
    return {
        # waitress reads the whole body into its buffer before the app runs, so Flask's limit
        # alone would come after up to its default 1 GiB had been received. With this, a
        # declared Content-Length over the limit is answered 413 (waitress's plain-text page)
        # as soon as the headers end, and a chunked body is cut when it passes the limit.
        # waitress refuses sizes >= this, Flask sizes > its limit: + 1 makes them agree.
        "max_request_body_size": request_body_limit(settings) + 1,
        "max_request_header_size": MAX_HEADER_BYTES,
        # Closes a connection with no request in progress after this long without a byte in
        # either direction: a client that connects and says nothing, stops halfway through
        # its headers or body, or leaves a kept-alive connection idle. A request the app is
        # working on is never cut (waitress skips channels with requests), however long.
        "channel_timeout": settings.client_timeout_seconds,
        # The sweep that applies channel_timeout runs at most this often (default 30 s, which
        # would let a silent client stay half a minute past its timeout); it walks at most
        # connection_limit (100) channels, so once a second costs nothing.
        "cleanup_interval": 1,
    }


def time_out_silent_reads(sock: socket.socket, seconds: int) -> None:
    """Make every blocking recv/send on connections accepted from ``sock`` fail after
    ``seconds`` without progress (SO_RCVTIMEO/SO_SNDTIMEO; Linux copies both from the
    listening socket to each accepted one).

    gunicorn has no setting for this: its workers read a request with blocking calls and no
    timeout (see gunicorn.conf.py for what that does to a client that stops mid-headers). The
    kernel-level timeout survives the workers' ``setblocking(True)``, which would reset a
    Python-level ``settimeout``; the stalled read then raises EAGAIN and the worker closes
    the connection.
    """
    timeval = struct.pack("ll", seconds, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
