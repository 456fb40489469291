"""Serving an app over real TCP on 127.0.0.1 for tests that need a socket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from waitress.server import create_server
from werkzeug.serving import make_server

from archive.serving import waitress_options


@contextmanager
def serving(app: Flask, server: str = "werkzeug") -> Iterator[str]:
    """Serve ``app`` in a background thread; yield its base URL."""
    if server == "waitress":
        # The limits `chartvault serve` runs with, so tests meet the server users meet.
        options = waitress_options(app.extensions["chartvault"].settings)
        httpd = create_server(app, host="127.0.0.1", port=0, threads=4, **options)
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
