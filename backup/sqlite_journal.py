"""Point-in-time recovery for the embedded SQLite database: a journal of changed pages.

SQLite archives no WAL of its own, so the archive keeps a journal beside its snapshots. Each
database snapshot (backup.snapshots) starts a *generation*; every minute the database
journal job stores, as the generation's next entry, the database pages that changed since
the entry before it (the first entry: since the snapshot):

1. when neither the database file nor its WAL changed since the last entry, nothing is read;
2. an online backup copies one consistent state of the database into a temporary file beside
   it (the same copy a snapshot makes), while the archive goes on working;
3. each page of the copy is hashed and compared with the digests of the previous state, which
   are kept in the data directory (``journal-state``: 16 bytes a page);
4. the changed pages, the new page count, and digests of the state before and after are
   stored, compressed, in the replica as ``journal/sqlite/<generation>/<entry number>``;
5. only then the digests are saved: a crash in between stores the same entry number again,
   and a restore reads the newest version of each entry.

A restore loads the snapshot and applies the entries in order, each only when the state
before it is exactly the one it was made from, and stops at the first gap or damaged entry,
saying so. What it costs: each minute in which anything was written, one read and one write
of the whole database on the local disk and a hash of every page (about 1.7 s of one core
for a 350 MiB database: ``python -m bench.journal``), and the changed pages, compressed, sent
to the replica.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from archive.errors import IntegrityError, ObjectNotFound
from archive.interfaces import CHUNK_SIZE, ObjectStore
from archive.models import utcnow

JOURNAL_PREFIX = "journal/sqlite/"
MEDIA_TYPE = "application/vnd.chartvault.sqlite-journal"
MAGIC = b"CHARTVAULT SQLITE JOURNAL 1\n"
STATE_FILENAME = "journal-state"
LOCK_FILENAME = "journal-state.lock"
DIGEST_SIZE = 16


# --- names ---------------------------------------------------------------------------------


def generation_of(snapshot_version_id: str) -> str:
    """The journal generation a snapshot starts. Derived from its version id, which is unique
    per snapshot, hashed because version ids of some stores are not valid key segments."""
    return hashlib.sha256(snapshot_version_id.encode()).hexdigest()[:24]


def generation_prefix(generation: str) -> str:
    return f"{JOURNAL_PREFIX}{generation}/"


def entry_key(generation: str, number: int) -> str:
    return f"{generation_prefix(generation)}{number:08d}"


# --- database images ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FileStamp:
    """Size and modification time of the database file and its WAL: when both are unchanged,
    no transaction committed since (every commit writes to one of them)."""

    values: tuple[int, ...]

    @classmethod
    def of(cls, database: Path) -> FileStamp:
        values: list[int] = []
        for path in (database, Path(f"{database}-wal")):
            try:
                stat = path.stat()
                values += [stat.st_size, stat.st_mtime_ns]
            except FileNotFoundError:
                values += [-1, -1]
        return cls(tuple(values))


def consistent_copy(source: Path, target: Path) -> FileStamp:
    """Copy one consistent state of the database at ``source`` into ``target`` (a single
    file, no WAL beside it); the stamp of ``source`` taken just before, so that any commit
    the copy may have missed changes the stamp the next run compares with."""
    stamp = FileStamp.of(source)
    # One step (pages=-1): the whole database is read under one read transaction, so the
    # copy is one consistent state even while the archive keeps writing (WAL mode).
    with closing(sqlite3.connect(source, timeout=30)) as db, \
            closing(sqlite3.connect(target)) as copy:
        db.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
    return stamp


def page_size_of(path: Path) -> int:
    with path.open("rb") as image:
        header = image.read(100)
    size = int.from_bytes(header[16:18], "big")
    return 65536 if size == 1 else size


def read_pages(path: Path, page_size: int) -> Iterator[bytes]:
    with path.open("rb") as image:
        while page := image.read(page_size):
            yield page


def page_digest(page: bytes) -> bytes:
    return hashlib.blake2b(page, digest_size=DIGEST_SIZE).digest()


@dataclass
class PageDigests:
    """The digest of every page of one database image, and of the whole image."""

    page_size: int
    digests: list[bytes] = field(default_factory=list)

    @classmethod
    def of(cls, path: Path) -> PageDigests:
        page_size = page_size_of(path)
        return cls(page_size, [page_digest(page) for page in read_pages(path, page_size)])

    def root(self) -> str:
        return hashlib.sha256(b"".join(self.digests)).hexdigest()

    def changed_pages(self, newer: PageDigests) -> list[int]:
        """The numbers (1-based) of the pages of ``newer`` that differ from this image."""
        return [number for number, digest in enumerate(newer.digests, 1)
                if number > len(self.digests) or self.digests[number - 1] != digest]

    def after(self, pages: Iterator[tuple[int, bytes]], page_count: int) -> PageDigests:
        """The digests once ``pages`` (number, bytes) are written and the image cut or grown
        to ``page_count`` pages."""
        digests = (self.digests + [b""] * page_count)[:page_count]
        for number, page in pages:
            digests[number - 1] = page_digest(page)
        return PageDigests(self.page_size, digests)


# --- the state kept in the data directory ------------------------------------------------------


@dataclass
class JournalState:
    """Where the journal stands: the generation, the snapshot that started it, the number of
    the last entry stored, the stamp of the database it was read from, and its pages."""

    generation: str
    snapshot_version_id: str
    entry: int
    stamp: FileStamp
    image: PageDigests

    def save(self, data_dir: Path) -> None:
        header = json.dumps({
            "generation": self.generation, "snapshot": self.snapshot_version_id,
            "entry": self.entry, "stamp": list(self.stamp.values),
            "page_size": self.image.page_size,
        }).encode()
        path = data_dir / STATE_FILENAME
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".journal-state-",
                                         delete=False) as out:
            out.write(header + b"\n" + b"".join(self.image.digests))
            out.flush()
            os.fsync(out.fileno())
        os.replace(out.name, path)

    @classmethod
    def load(cls, data_dir: Path) -> JournalState | None:
        try:
            raw = (data_dir / STATE_FILENAME).read_bytes()
        except FileNotFoundError:
            return None
        line, _, digests = raw.partition(b"\n")
        header = json.loads(line)
        image = PageDigests(header["page_size"], [
            digests[start:start + DIGEST_SIZE] for start in range(0, len(digests), DIGEST_SIZE)])
        return cls(header["generation"], header["snapshot"], header["entry"],
                   FileStamp(tuple(header["stamp"])), image)


@contextmanager
def journal_lock(data_dir: Path) -> Iterator[None]:
    """Held while the state is read, an entry or a snapshot stored, and the state saved: a
    snapshot starting a generation while a minute's entry is made for the old one would
    otherwise have its state overwritten with the old generation's."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_FILENAME).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_generation(data_dir: Path, snapshot_version_id: str, image: Path,
                     stamp: FileStamp) -> None:
    """A snapshot of ``image`` was stored as ``snapshot_version_id``: the journal goes on from
    it. Entries a crashed earlier start left under the same generation cannot exist: the
    generation is new with the snapshot."""
    JournalState(generation_of(snapshot_version_id), snapshot_version_id, 0, stamp,
                 PageDigests.of(image)).save(data_dir)


# --- one entry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    number: int
    pages: int  # pages changed
    page_count: int
    size: int  # bytes stored


def record_changes(replica: ObjectStore, data_dir: Path, database: Path,
                   state: JournalState) -> Entry | None:
    """Store the pages changed since ``state`` as the generation's next entry and save the
    new state; None when nothing was written since."""
    if FileStamp.of(database) == state.stamp:
        return None
    with tempfile.TemporaryDirectory(dir=database.parent, prefix=".journal-") as work:
        copy = Path(work) / "database"
        taken_at = utcnow()
        stamp = consistent_copy(database, copy)
        newer = PageDigests.of(copy)
        changed = state.image.changed_pages(newer)
        if not changed and len(newer.digests) == len(state.image.digests):
            state.stamp = stamp  # a checkpoint moved pages from the WAL; nothing changed
            state.save(data_dir)
            return None
        number = state.entry + 1
        entry_file = Path(work) / "entry"
        _write_entry(entry_file, copy, changed, {
            "generation": state.generation, "entry": number, "taken_at": taken_at.isoformat(),
            "page_size": newer.page_size, "page_count": len(newer.digests),
            "pages": changed, "before": state.image.root(), "after": newer.root(),
        })
        with entry_file.open("rb") as stream:
            stored = replica.put(entry_key(state.generation, number), stream,
                                 media_type=MEDIA_TYPE, length=entry_file.stat().st_size)
    JournalState(state.generation, state.snapshot_version_id, number, stamp, newer).save(data_dir)
    return Entry(number, len(changed), len(newer.digests), stored.size)


def _write_entry(target: Path, image: Path, pages: list[int], header: dict) -> None:
    """MAGIC, the header as one JSON line, then the changed pages in order; compressed as a
    whole, written a page at a time (an entry after a VACUUM holds every page)."""
    compressor = zlib.compressobj(6)
    page_size = header["page_size"]
    with target.open("wb") as out, image.open("rb") as source:
        out.write(compressor.compress(MAGIC + json.dumps(header).encode() + b"\n"))
        for number in pages:
            source.seek((number - 1) * page_size)
            out.write(compressor.compress(source.read(page_size)))
        out.write(compressor.flush())


# --- replaying a generation --------------------------------------------------------------------


@dataclass
class Replay:
    """What applying a generation's entries to its snapshot did."""

    entries: int = 0
    restored_to: datetime | None = None  # None: no entry applied, the snapshot's own time
    problem: str = ""  # why the replay stopped before the generation's last entry


def replay(source: ObjectStore, snapshot_version_id: str, image: Path) -> Replay:
    """Apply the journal entries of the snapshot's generation, in order, to ``image`` (the
    snapshot, loaded into a file): the state of the database when the last one applied was
    taken."""
    generation = generation_of(snapshot_version_id)
    numbers = sorted(int(key.rsplit("/", 1)[1])
                     for key in source.list_keys(generation_prefix(generation)))
    result, digests = Replay(), PageDigests.of(image)
    with tempfile.TemporaryDirectory(dir=image.parent, prefix=".replay-") as work:
        pages_file = Path(work) / "pages"
        for expected, number in enumerate(numbers, 1):
            if number != expected:
                later = len(numbers) - expected + 1
                result.problem = (f"journal entry {expected} is missing from the replica; "
                                  f"{later} later {'entry' if later == 1 else 'entries'} "
                                  "cannot be applied")
                break
            try:
                header = _fetch_entry(source, entry_key(generation, number), pages_file)
            except (ObjectNotFound, IntegrityError, ValueError) as err:
                result.problem = f"journal entry {number} cannot be read ({err})"
                break
            taken_at = datetime.fromisoformat(header["taken_at"])
            if header["before"] != digests.root():
                result.problem = (f"journal entry {number} was not made from the state the "
                                  "entries before it lead to")
                break
            newer = digests.after(_entry_pages(pages_file, header), header["page_count"])
            if newer.root() != header["after"]:
                result.problem = f"journal entry {number} does not hold the pages it names"
                break
            _apply(image, _entry_pages(pages_file, header), header)
            digests = newer
            result.entries, result.restored_to = number, taken_at
    return result


def _fetch_entry(source: ObjectStore, key: str, pages_file: Path) -> dict:
    """The newest version of one entry (an older one is a copy a crash made obsolete), its
    checksum verified as it is read: its header; its pages decompressed into ``pages_file``
    (an entry after a VACUUM holds every page of the database: never all in memory)."""
    version = source.list_versions(key)[-1]
    decompressor, head = zlib.decompressobj(), b""
    header: dict | None = None
    with pages_file.open("wb") as out:
        for chunk in source.open(key, version.version_id):
            data = decompressor.decompress(chunk, CHUNK_SIZE)
            while True:
                if header is None:
                    head += data
                    header, data = _split_header(head)
                out.write(data)
                if not decompressor.unconsumed_tail:
                    break
                data = decompressor.decompress(decompressor.unconsumed_tail, CHUNK_SIZE)
        out.write(decompressor.flush())
    if header is None:
        raise ValueError("the entry is cut short")
    if pages_file.stat().st_size != header["page_size"] * len(header["pages"]):
        raise ValueError("the entry is cut short")
    return header


def _split_header(head: bytes) -> tuple[dict | None, bytes]:
    """The header and what follows it, once ``head`` holds the whole header line."""
    if len(head) >= len(MAGIC) and not head.startswith(MAGIC):
        raise ValueError("not a ChartVault SQLite journal entry")
    line_end = head.find(b"\n", len(MAGIC))
    if line_end < 0:
        return None, b""
    return json.loads(head[len(MAGIC):line_end]), head[line_end + 1:]


def _entry_pages(pages_file: Path, header: dict) -> Iterator[tuple[int, bytes]]:
    with pages_file.open("rb") as pages:
        for number in header["pages"]:
            yield number, pages.read(header["page_size"])


def _apply(image: Path, pages: Iterator[tuple[int, bytes]], header: dict) -> None:
    page_size = header["page_size"]
    with image.open("r+b") as out:
        for number, page in pages:
            out.seek((number - 1) * page_size)
            out.write(page)
        out.truncate(header["page_count"] * page_size)
        out.flush()
        os.fsync(out.fileno())


# --- keeping what the kept snapshots need -------------------------------------------------------


def prune_generations(store: ObjectStore, kept_snapshot_version_ids: list[str]) -> int:
    """Delete the entries of every generation whose snapshot is no longer kept; how many."""
    kept = {generation_prefix(generation_of(version)) for version in kept_snapshot_version_ids}
    dropped = 0
    for key in store.list_keys(JOURNAL_PREFIX):
        if key[:key.rindex("/") + 1] in kept:
            continue
        for info in store.list_versions(key):
            try:
                store.delete_version(key, info.version_id)
            except ObjectNotFound:
                continue  # pruned concurrently
            dropped += 1
    return dropped
