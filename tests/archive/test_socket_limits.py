"""Limits at the socket (issue 15): an oversized upload is refused before its body is read, and
silent or stalled clients are cut after CHARTVAULT_CLIENT_TIMEOUT_SECONDS, under both servers
the archive ships with: `chartvault serve` (waitress) and gunicorn with gunicorn.conf.py, each
a real process on 127.0.0.1 speaking to raw sockets.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine

from archive import migrate
from archive.app import TESTING_AUDIT_KEY, create_app
from archive.config import PREFIX, Settings
from archive.serving import request_body_limit

ROOT = Path(__file__).resolve().parents[2]
MAX_UPLOAD_MB = 1
CLIENT_TIMEOUT = 2
# gthread lends a new connection a thread for 5 s (a constant in gunicorn/workers/gthread.py)
# before parking it in the poller for `keepalive` seconds; gunicorn.conf.py: min(5, timeout).
GTHREAD_FIRST_BYTE_WAIT = 5
# Both servers check their timeouts once a second; the rest is a loaded two-core machine.
SLACK = 2.5
BODY_LIMIT = request_body_limit(Settings(data_dir=ROOT, database_url="",
                                         max_upload_mb=MAX_UPLOAD_MB))
# One byte over (waitress's own default, 1 GiB, would let it through), and a lot over.
OVERSIZED = [BODY_LIMIT + 1, 10 * 1024**3]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _health(port: int, timeout: float = 5) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health",
                                    timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


class Server:
    """One server process started for these tests, with its output kept for a failure."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path):
        self.name, self.log, self.port = name, log, _free_port()
        command = [part.replace("{port}", str(self.port)) for part in command]
        with log.open("wb") as out:
            # Its own session, so stopping it takes gunicorn's workers along.
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_until_healthy(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if _health(self.port, timeout=2) == 200:
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not come up:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    """A migrated embedded installation, described only by CHARTVAULT_* variables."""
    data = tmp_path_factory.mktemp("socket-limits") / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'chartvault.db'}"
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env.update({
        "PYTHONPATH": str(ROOT),  # this checkout's archive, not an installed one
        PREFIX + "DATA_DIR": str(data),
        PREFIX + "DATABASE_URL": url,
        PREFIX + "SECRET_KEY": "socket-limits-test-key",
        PREFIX + "AUDIT_KEY": TESTING_AUDIT_KEY,
        PREFIX + "MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
        PREFIX + "CLIENT_TIMEOUT_SECONDS": str(CLIENT_TIMEOUT),
    })
    return env


@pytest.fixture(scope="module")
def servers(environment, tmp_path_factory) -> Iterator[dict[str, Server]]:
    """Both servers, started side by side (each takes seconds to import the app)."""
    logs = tmp_path_factory.mktemp("server-logs")
    commands = {
        "waitress": [sys.executable, "-c", "from archive.cli import cli; cli()",
                     "serve", "--host", "127.0.0.1", "--port", "{port}"],
        # One worker instead of four: the limits under test are per connection, and each
        # worker would import the whole app on this two-core machine.
        "gunicorn": [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                     "-w", "1", "-b", "127.0.0.1:{port}", "wsgi:app"],
    }
    started: dict[str, Server] = {}
    try:
        for name, command in commands.items():
            started[name] = Server(name, command, environment, logs / f"{name}.log")
        deadline = time.monotonic() + 60
        for server in started.values():
            server.wait_until_healthy(deadline)
        yield started
    finally:
        for server in started.values():
            server.stop()


def _open(port: int, first_bytes: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


@pytest.mark.parametrize("declared", OVERSIZED)
@pytest.mark.parametrize("name", ["waitress", "gunicorn"])
def test_declared_oversized_upload_is_refused_before_its_body(servers, name, declared):
    server = servers[name]
    with _open(server.port) as sock:
        started = time.monotonic()
        # No Authorization either: the size is refused before anything else is looked at.
        sock.sendall(
            b"POST /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: %d\r\n\r\n" % declared
        )
        sock.settimeout(CLIENT_TIMEOUT + SLACK)
        answer = _read_answer(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:500]
    # Not a byte of the body was sent, and the answer came sooner than a server waiting for
    # it could have given up on this client.
    assert elapsed < CLIENT_TIMEOUT, elapsed
    if name == "gunicorn":
        # gunicorn hands the socket over unread: the archive's own answer, in the API's form.
        body = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert body["error"]["code"] == "request_entity_too_large"
        assert f"{MAX_UPLOAD_MB} MiB" in body["error"]["message"]
    assert _health(server.port) == 200, server.output()


def _read_answer(sock: socket.socket) -> bytes:
    """One whole HTTP answer: the headers and as many body bytes as they announce (a server
    may send them in separate writes)."""
    answer = b""
    try:
        while True:
            head, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head + b"\r\n")
            if _ and length and len(body) >= int(length.group(1)):
                return answer
            chunk = sock.recv(65536)
            if not chunk:
                return answer
            answer += chunk
    except TimeoutError:
        return answer or b"(no answer: the server is waiting for the body)"


def _seconds_until_closed(socks: dict[str, socket.socket], limit: float) -> dict[str, float]:
    """Wait for the server to close each socket; how long each took (inf if it did not)."""
    started = time.monotonic()
    closed: dict[str, float] = {}
    with selectors.DefaultSelector() as selector:
        for label, sock in socks.items():
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, label)
        while len(closed) < len(socks) and time.monotonic() - started < limit:
            for key, _ in selector.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(65536)
                except ConnectionError:
                    data = b""
                if not data:
                    closed[key.data] = time.monotonic() - started
                    selector.unregister(key.fileobj)
    return {label: closed.get(label, float("inf")) for label in socks}


SLOW_CLIENTS = {
    "silent": b"",
    "half request line": b"GET /api/v1/heal",
    "half headers": b"POST /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le",
}


@pytest.mark.parametrize("name", ["waitress", "gunicorn"])
def test_silent_and_stalled_clients_are_cut_after_the_timeout(servers, name):
    server = servers[name]
    socks = {label: _open(server.port, first) for label, first in SLOW_CLIENTS.items()}
    try:
        # While they hang, the server keeps answering others.
        assert _health(server.port) == 200, server.output()
        waited = _seconds_until_closed(socks, limit=GTHREAD_FIRST_BYTE_WAIT + 10)
    finally:
        for sock in socks.values():
            sock.close()
    expected = {label: CLIENT_TIMEOUT for label in SLOW_CLIENTS}
    if name == "gunicorn":
        # gthread's first-byte wait, then keepalive in the poller (gunicorn.conf.py).
        expected["silent"] = GTHREAD_FIRST_BYTE_WAIT + min(5, CLIENT_TIMEOUT)
    for label, seconds in waited.items():
        # Not before the timeout (the timeout is what closes it), and not long after.
        assert expected[label] - 0.5 <= seconds <= expected[label] + SLACK, (
            f"{name} closed the {label} client after {seconds:.1f} s, expected about "
            f"{expected[label]} s\n{server.output()}")
    assert _health(server.port) == 200, server.output()


# --- the same limit in the app itself (what gunicorn relies on) -----------------------------


@pytest.fixture(scope="module")
def limited_app(environment) -> Iterator[Flask]:
    settings = Settings(data_dir=Path(environment[PREFIX + "DATA_DIR"]),
                        database_url=environment[PREFIX + "DATABASE_URL"],
                        max_upload_mb=MAX_UPLOAD_MB)
    app = create_app(settings, testing=True)
    yield app
    app.extensions["chartvault"].db.dispose()


def test_a_full_size_upload_and_its_form_are_within_the_limit(limited_app):
    limit = request_body_limit(limited_app.extensions["chartvault"].settings)
    assert limit == BODY_LIMIT > MAX_UPLOAD_MB * 1024 * 1024  # the file may be the full size
    client = limited_app.test_client()

    def declared(length: int) -> int:
        return client.post("/api/v1/documents", input_stream=None,
                           environ_overrides={"CONTENT_LENGTH": str(length),
                                              "CONTENT_TYPE": "multipart/form-data; boundary=x"}
                           ).status_code

    assert declared(limit) == 401  # on to the next check: who is asking
    assert declared(limit + 1) == 413
