"""Serving an app over real TCP on 127.0.0.1 for tests that need a socket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from waitress.server import create_server
from werkzeug.serving import make_server


@contextmanager
def serving(app: Flask, server: str = "werkzeug") -> Iterator[str]:
    """Serve ``app`` in a background thread; yield its base URL."""
    if server == "waitress":
        httpd = create_server(app, host="127.0.0.1", port=0, threads=4)
        port, run, stop = httpd.effective_port, httpd.run, httpd.close
    else:
        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        port, run, stop = httpd.server_port, httpd.serve_forever, httpd.shutdown
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop()
        thread.join(timeout=5)
        if server == "werkzeug":
            httpd.server_close()
