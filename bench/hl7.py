"""The ADT listener's throughput: messages per second acknowledged (AA) and committed, beside
a plain MLLP echo over the same loopback sockets in the same run.

    python -m bench.hl7 [--messages 2000] [--connections 1 4] [--skip-postgres]

Each message is a distinct ADT^A01 of a new patient (so each registers a patient, a
provider on first sight, an encounter, two audit events and the message log), in the
shape of the Epic-like feed of the tests. An interface engine sends one message at a time
per connection and waits for its ACK; hospitals run one connection per feed, a few feeds
at most. The echo answers every frame with a fixed ACK and stores nothing: it is the
socket-and-framing bound the listener is measured against. The listener runs on a
migrated SQLite file (WAL, the embedded default) and on a throwaway PostgreSQL cluster
(``tests.pg``). Target: at least 500 messages a second acknowledged and committed.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import socketserver
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, select

from archive import migrate
from archive.app import create_app
from archive.config import Settings
from completion.hl7_listener import Hl7Listener, exchange, framed, frames
from completion.models import Encounter
from tests.pg import ThrowawayPostgres

TARGET = 500.0
CANNED_ACK = "MSH|^~\\&|CHARTVAULT|HIM|EPIC|UMC|20261102083512||ACK^A01^ACK|1|P|2.5.1\rMSA|AA|1\r"


def adt_a01(n: int) -> str:
    return "\r".join([
        f"MSH|^~\\&|EPIC|UMC|CHARTVAULT|HIM|20261102083512||ADT^A01^ADT_A01|B{n}|P|2.5.1",
        "EVN|A01|20261102083512",
        f"PID|1||B{n:07d}^^^EPI^MR||BENCH^PATIENT{n}||19800214|F",
        f"PV1|1|I|4W^401^A^UMC||||{1000 + n % 50}^HOUSE^GREGORY|||MED||||||||IP|V{n:08d}"
        "|||||||||||||||||||||||||202611020830|",
    ]) + "\r"


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(0.5)
        for _ in frames(self.request.recv, self.server.stopping):
            self.request.sendall(framed(CANNED_ACK))


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = allow_reuse_address = True

    def __init__(self):
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _Echo)


def rate(port: int, messages: list[str], connections: int) -> float:
    """Messages a second, each connection sending its share one at a time."""
    shares = [messages[i::connections] for i in range(connections)]
    acks: list[int] = []

    def send_share(share: list[str]) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            acks.append(sum("MSA|AA|" in exchange(connection, text) for text in share))

    threads = [threading.Thread(target=send_share, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if sum(acks) != len(messages):
        raise SystemExit(f"only {sum(acks)} of {len(messages)} messages were acknowledged AA")
    return len(messages) / elapsed


def echo_rate(messages: list[str], connections: int) -> float:
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        return rate(server.server_address[1], messages, connections)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def listener_rate(url: str, data_dir: Path, messages: list[str], connections: int) -> float:
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(Settings(data_dir=data_dir, database_url=url), testing=True)
    ext = app.extensions["chartvault"]
    listener = Hl7Listener(ext, "127.0.0.1", 0, ZoneInfo("UTC")).start()
    try:
        per_second = rate(listener.port, messages, connections)
        with ext.db.transaction() as session:
            stored = session.scalar(select(func.count()).select_from(Encounter))
        if stored < len(messages):
            raise SystemExit(f"{stored} encounters committed for {len(messages)} AAs")
        return per_second
    finally:
        listener.stop()
        ext.db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    print(f"CPU: {_cpu()}; Python {platform.python_version()}")
    failed = False
    databases: list[tuple[str, Callable]] = [("sqlite", _sqlite)]
    if not args.skip_postgres:
        databases.append(("postgresql", _postgres))
    for connections in args.connections:
        offset = 0
        echo = echo_rate([adt_a01(n) for n in range(args.messages)], connections)
        print(f"{connections} connection(s): echo {echo:,.0f} msg/s")
        for name, database in databases:
            offset += args.messages
            batch = [adt_a01(offset + n) for n in range(args.messages)]
            with database() as (url, data_dir):
                listener = listener_rate(url, data_dir, batch, connections)
            ok = listener >= TARGET
            failed |= not ok
            print(f"  {name:10s} listener {listener:,.0f} msg/s acknowledged and committed "
                  f"({listener / echo:.1%} of echo) {'PASS' if ok else 'FAIL'} "
                  f"(target {TARGET:.0f})")
    return 1 if failed else 0


class _sqlite:  # noqa: N801 - used as a context-manager factory beside _postgres
    def __enter__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="bench-hl7-")
        root = Path(self._dir.name)
        return f"sqlite:///{root / 'chartvault.db'}", root / "data"

    def __exit__(self, *exc):
        self._dir.cleanup()


class _postgres:  # noqa: N801
    def __enter__(self):
        self._cluster = ThrowawayPostgres().__enter__()
        self._dir = tempfile.TemporaryDirectory(prefix="bench-hl7-")
        return self._cluster.create_database("bench_hl7"), Path(self._dir.name) / "data"

    def __exit__(self, *exc):
        self._dir.cleanup()
        self._cluster.__exit__(*exc)


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip() + f", {_cores()} cores"
    return platform.processor()


def _cores() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    raise SystemExit(main())

