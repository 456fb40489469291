"""The MLLP listener: HL7 v2 messages over TCP, each framed as 0x0B message 0x1C 0x0D (the
Minimal Lower Layer Protocol), answered on the same connection with an ACK framed alike.
One thread per connection (an interface engine keeps one connection open and sends one
message at a time, waiting for each ACK); each message is handled by
completion.hl7_receiver. It runs beside the worker and `chartvault serve` when
CHARTVAULT_HL7_PORT is set, or alone with `chartvault hl7 listen`."""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from datetime import tzinfo

from completion.hl7_receiver import ERROR, REJECT, Outcome, build_ack, header_of, receive

log = logging.getLogger(__name__)
START, END = b"\x0b", b"\x1c\x0d"
MAX_MESSAGE_BYTES = 1024 * 1024  # far above any ADT; a stream without END is not HL7
POLL_SECONDS = 0.5  # how soon a connection notices the listener stopping


class FrameTooLarge(ValueError):
    pass


def frames(read: Callable[[int], bytes], stopping: threading.Event) -> Iterator[bytes]:
    """The messages of one connection, each without its framing bytes. Bytes outside a
    frame (keep-alive newlines some engines send) are skipped."""
    buffer = b""
    while not stopping.is_set():
        try:
            chunk = read(65536)
        except TimeoutError:
            continue
        if not chunk:
            return
        buffer += chunk
        while (end := buffer.find(END)) >= 0:
            frame, buffer = buffer[:end], buffer[end + len(END):]
            start = frame.rfind(START)
            if start >= 0:
                yield frame[start + 1:]
        if len(buffer) > MAX_MESSAGE_BYTES:
            raise FrameTooLarge(f"no end of message within {MAX_MESSAGE_BYTES} bytes")


def framed(text: str) -> bytes:
    return START + text.encode("utf-8") + END


def decoded(frame: bytes) -> str:
    """UTF-8 as HL7 2.8 prefers; older systems send Latin-1 (MSH-18 8859/1), never lost."""
    try:
        return frame.decode("utf-8")
    except UnicodeDecodeError:
        return frame.decode("latin-1")


class _Connection(socketserver.BaseRequestHandler):
    server: MllpServer

    def handle(self) -> None:
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        self.request.settimeout(POLL_SECONDS)
        try:
            for frame in frames(self.request.recv, self.server.stopping):
                self.request.sendall(framed(self.server.answer(decoded(frame), peer).ack()))
        except FrameTooLarge as err:
            self.request.sendall(framed(build_ack(None, REJECT, f"Message too large: {err}.")))
        except OSError as err:  # the peer went away: its next connection starts afresh
            log.info("HL7 connection from %s ended: %s", peer, err)


class MllpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, ext, host: str, port: int, zone: tzinfo):
        self.ext, self.zone, self.stopping = ext, zone, threading.Event()
        super().__init__((host, port), _Connection)

    def answer(self, text: str, peer: str) -> Outcome:
        try:
            return receive(self.ext, text, peer, self.zone)
        except Exception:  # never AA for what was not stored, never a silent drop
            log.exception("HL7 message from %s could not be handled", peer)
            return Outcome(ERROR, "The archive could not store the message; send it again.",
                           header_of(text))


class Hl7Listener:
    """The listener on its own thread: start(), the bound ``port``, stop()."""

    def __init__(self, ext, host: str, port: int, zone: tzinfo):
        self.server = MllpServer(ext, host, port, zone)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": POLL_SECONDS}, daemon=True,
                                        name="hl7-listener")

    def start(self) -> Hl7Listener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


def run_listener(ext, host: str, port: int, zone: tzinfo, stop: threading.Event) -> None:
    """A background task (Archive.background_tasks): listen until ``stop`` is set. Where
    several workers run, the first to bind the port listens and the others say so."""
    try:
        listener = Hl7Listener(ext, host, port, zone).start()
    except OSError as err:
        log.error("HL7 listener not started on %s:%s (%s); another process may hold the "
                  "port", host, port, err)
        return
    log.info("HL7 listener on %s:%s", host, listener.port)
    stop.wait()
    listener.stop()


def send(host: str, port: int, text: str, timeout: float = 10.0) -> str:
    """Send one message and return its ACK's text (a client, for tests and tools)."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        return exchange(connection, text)


def exchange(connection: socket.socket, text: str) -> str:
    """One message and its ACK on an open connection."""
    connection.sendall(framed(text))

    def read(size: int) -> bytes:
        try:
            return connection.recv(size)
        except TimeoutError:
            raise ConnectionError("no ACK came back in time") from None

    for frame in frames(read, threading.Event()):
        return decoded(frame)
    raise ConnectionError("the listener closed the connection without an ACK")
