"""gunicorn's configuration for the web service (Dockerfile, docker-compose.yml):

    gunicorn -c gunicorn.conf.py wsgi:app

Its limits come from the same CHARTVAULT_* settings as `chartvault serve` (waitress), through
archive/serving.py. Command-line options still win over this file (`-w`, `-b` ...).

What a real gunicorn 27 does with bad clients, measured (tests/archive/test_socket_limits.py
keeps it so):

- sync workers read a request with blocking calls and no timeout. A client that connects and
  says nothing, or stops halfway through its headers, holds the whole worker until the arbiter's
  `timeout` kills it (SIGABRT, a 500 to that client, then a new worker boots the app again):
  four such clients stop the service for `timeout` seconds, and `timeout` also caps every
  honest request, so it cannot be short where uploads are large.
- gthread workers wait 5 s in a thread for a new connection's first byte, then park it in the
  poller and close it after `keepalive` more seconds: a silent client costs a thread for 5 s,
  not for ever (gunicorn has no setting for those 5 s). But a client that sends part of its
  headers and stops keeps its thread blocked in recv() for ever, and the worker's main loop
  still beats, so `timeout` never fires: as many such clients as a worker has threads, and
  that worker answers no one again (seen with 2 threads: /api/v1/health unanswered for 25 s).
- Neither answers an oversized upload itself: the body is left on the socket for the app.
  Flask refuses a declared Content-Length over the limit with 413 before reading the body
  (archive.serving.limit_request_bodies); gthread then reads at most 64 KiB or 5 s of the
  unread body before closing, sync closes at once.

So: gthread workers, and a kernel timeout on every accepted socket (post_worker_init below)
so that a read or write stalled for CHARTVAULT_CLIENT_TIMEOUT_SECONDS fails and the connection
is closed. gunicorn logs each such cut as "Socket error processing request" (EAGAIN).
"""

from archive.config import Settings
from archive.serving import (
    MAX_HEADER_FIELD_BYTES,
    MAX_HEADER_FIELDS,
    MAX_REQUEST_LINE,
    time_out_silent_reads,
)

_settings = Settings.from_env()
_client_timeout = _settings.client_timeout_seconds

bind = "0.0.0.0:8000"
worker_class = "gthread"
# As many processes as the sync setup had. Threads are cheap next to processes, and gthread
# lends one for up to 5 s to every new connection that has not sent its first byte yet.
workers = 4
threads = 4

# For gthread this is only the heartbeat of a wedged worker (its main loop beats every
# second whatever its threads do), not a request timeout; never shorter than gunicorn's default.
timeout = max(30, _client_timeout)
# A stopping worker lets uploads in flight finish for this long.
graceful_timeout = max(30, _client_timeout)
# Idle time on a kept-alive connection, and (gthread) how long a silent new connection stays
# parked after its first 5 s: gunicorn advises 1-5 s for clients that connect directly.
keepalive = min(5, _client_timeout)

# Python's socket.sendfile() treats the send timeout's EAGAIN as "wait until writable" and waits
# for ever, so a client that stops reading a static file would never be cut. Only static assets
# go that way (records stream through the app, checked chunk by chunk); they are small.
sendfile = False

limit_request_line = MAX_REQUEST_LINE
limit_request_fields = MAX_HEADER_FIELDS
limit_request_field_size = MAX_HEADER_FIELD_BYTES

# The control socket (gunicornc) would be created in $HOME/.gunicorn, which for the image's
# chartvault user is the data volume; nothing here needs to resize workers at run time.
control_socket_disable = True


def post_worker_init(worker):
    """Each worker, before it accepts: connections inherit the timeouts from the listening
    socket they are accepted from (set here rather than once in the arbiter so that sockets
    a worker opens itself, with reuse_port, get them too)."""
    for listener in worker.sockets:
        time_out_silent_reads(listener.sock, _client_timeout)
