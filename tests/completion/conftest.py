"""Chart completion's fixtures: the MLLP listener on a free loopback port (a real socket),
and a client that sends one message and reads its ACK's MSA segment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from completion.hl7_listener import Hl7Listener, send
from completion.models import Encounter, Hl7Message


@dataclass(frozen=True)
class Ack:
    text: str

    @property
    def segments(self) -> list[list[str]]:
        return [line.split("|") for line in self.text.strip("\r").split("\r")]

    @property
    def code(self) -> str:
        return self.segments[1][1]

    @property
    def control_id(self) -> str:
        return self.segments[1][2]

    @property
    def reason(self) -> str:
        msa = self.segments[1]
        return msa[3] if len(msa) > 3 else ""


@dataclass
class Hl7Feed:
    ext: object
    port: int

    def send(self, text: str) -> Ack:
        return Ack(send("127.0.0.1", self.port, text))

    def encounter(self, number: str) -> Encounter | None:
        with self.ext.db.transaction() as session:
            found = session.scalar(select(Encounter).where(Encounter.number == number))
            if found is not None:
                session.expunge(found)
            return found

    def logged(self) -> list[tuple]:
        with self.ext.db.transaction() as session:
            return [tuple(row) for row in session.execute(
                select(Hl7Message.control_id, Hl7Message.event, Hl7Message.ack_code,
                       Hl7Message.error).order_by(Hl7Message.id))]

    def count(self, model) -> int:
        with self.ext.db.transaction() as session:
            return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def hl7_feed(ext) -> Iterator[Hl7Feed]:
    listener = Hl7Listener(ext, "127.0.0.1", 0, ZoneInfo("UTC")).start()
    yield Hl7Feed(ext, listener.port)
    listener.stop()
