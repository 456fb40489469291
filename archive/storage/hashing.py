"""Streaming SHA-256 helpers shared by every ObjectStore backend."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from archive.errors import IntegrityError
from archive.interfaces import CHUNK_SIZE


class HashingReader:
    """File-like wrapper that hashes and counts every byte read through it."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._hash.update(data)
        self.size += len(data)
        return data

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def read_chunks(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := stream.read(chunk_size):
        yield chunk


def verified_chunks(chunks: Iterable[bytes], expected_sha256: str, what: str) -> Iterator[bytes]:
    """Yield ``chunks`` unchanged, holding the last one back until the hash matches.

    On a mismatch ``IntegrityError`` is raised instead of the last chunk, so a consumer
    (a download, a replication) never receives a complete copy of corrupted bytes.
    """
    digest = hashlib.sha256()
    pending: bytes | None = None
    for chunk in chunks:
        if not chunk:
            continue
        digest.update(chunk)
        if pending is not None:
            yield pending
        pending = chunk
    actual = digest.hexdigest()
    if actual != expected_sha256.lower():
        raise IntegrityError(
            f"{what} failed its integrity check: its SHA-256 is {actual}, the archive "
            f"recorded {expected_sha256}. The read was stopped; report this to the archive "
            "administrator so the copy can be repaired from backup."
        )
    if pending is not None:
        yield pending
