"""The SQLite database journal on its own: a snapshot and its entries rebuild the database
byte for byte, through inserts, updates, deletes and a VACUUM that shrinks the file; a minute
without writes stores nothing; an entry stored twice (a crash before its state was saved)
is read in its newest version; a missing or damaged entry stops the replay there and says
so; the entries of a snapshot no longer kept are deleted with it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from archive.storage.filesystem import VERSIONS_DIR, FilesystemStore
from backup import sqlite_journal
from backup.sqlite_journal import JournalState, consistent_copy, record_changes, replay

SNAPSHOT = "snapshot-1"


@pytest.fixture
def site(tmp_path):
    """A WAL-mode database in a data directory, a replica, and a generation started from a
    first copy (kept, as the replica keeps the snapshot)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database = data_dir / "chartvault.db"
    with closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE pages (id INTEGER PRIMARY KEY, text TEXT)")
        db.executemany("INSERT INTO pages (text) VALUES (?)",
                       [(f"page {n} " * 200,) for n in range(300)])
        db.commit()
    snapshot = tmp_path / "snapshot.db"
    stamp = consistent_copy(database, snapshot)
    sqlite_journal.start_generation(data_dir, SNAPSHOT, snapshot, stamp)
    return data_dir, database, snapshot, FilesystemStore(tmp_path / "replica")


def write(database: Path, *statements: str) -> None:
    with closing(sqlite3.connect(database)) as db:
        for statement in statements:
            db.execute(statement)
        db.commit()


def insert(database: Path, text: str) -> None:
    with closing(sqlite3.connect(database)) as db:
        db.execute("INSERT INTO pages (text) VALUES (?)", (text,))
        db.commit()


def journal(site):
    data_dir, database, _snapshot, replica = site
    return record_changes(replica, data_dir, database, JournalState.load(data_dir))


def replayed_image(site, tmp_path) -> tuple[Path, sqlite_journal.Replay]:
    _data_dir, _database, snapshot, replica = site
    image = tmp_path / "replayed.db"
    image.write_bytes(snapshot.read_bytes())
    return image, replay(replica, SNAPSHOT, image)


def current_image(site, tmp_path) -> bytes:
    copy = tmp_path / "now.db"
    consistent_copy(site[1], copy)
    return copy.read_bytes()


def test_the_snapshot_and_its_entries_rebuild_the_database_byte_for_byte(site, tmp_path):
    _data_dir, database, _snapshot, _replica = site
    write(database, "INSERT INTO pages (text) VALUES ('a new chart')")
    first = journal(site)
    write(database, "UPDATE pages SET text = 'corrected' WHERE id = 7",
          "DELETE FROM pages WHERE id > 200")
    second = journal(site)
    write(database, "VACUUM")  # every page may move, and the file shrinks
    third = journal(site)

    image, result = replayed_image(site, tmp_path)

    assert [first.number, second.number, third.number] == [1, 2, 3]
    assert first.pages < 10 and third.page_count < first.page_count
    assert result.entries == 3 and result.problem == ""
    assert image.read_bytes() == current_image(site, tmp_path)
    with closing(sqlite3.connect(image)) as db:
        assert db.execute("SELECT text FROM pages WHERE id = 7").fetchone() == ("corrected",)
        assert db.execute("SELECT count(*) FROM pages").fetchone() == (200,)


def test_a_minute_without_writes_stores_no_entry(site):
    _data_dir, database, _snapshot, replica = site
    assert journal(site) is None
    write(database, "SELECT 1")
    assert journal(site) is None
    assert replica.list_keys(sqlite_journal.JOURNAL_PREFIX) == []


def test_an_entry_stored_again_after_a_crash_is_replayed_in_its_newest_version_injected_failure(
    site, tmp_path, monkeypatch
):
    data_dir, database, _snapshot, replica = site
    write(database, "INSERT INTO pages (text) VALUES ('before the crash')")

    def crash(_state, _data_dir):
        raise OSError("power cut")

    with monkeypatch.context() as patched:
        patched.setattr(JournalState, "save", crash)
        with pytest.raises(OSError):
            journal(site)
    write(database, "INSERT INTO pages (text) VALUES ('after the crash')")
    again = journal(site)

    key = sqlite_journal.entry_key(sqlite_journal.generation_of(SNAPSHOT), 1)
    assert again.number == 1 and len(replica.list_versions(key)) == 2
    image, result = replayed_image(site, tmp_path)
    assert result.entries == 1 and result.problem == ""
    assert image.read_bytes() == current_image(site, tmp_path)


def test_a_missing_entry_stops_the_replay_before_it_and_says_so(site, tmp_path):
    data_dir, database, _snapshot, replica = site
    for n in range(3):
        insert(database, f"minute {n}")
        journal(site)
    key = sqlite_journal.entry_key(sqlite_journal.generation_of(SNAPSHOT), 2)
    (version,) = replica.list_versions(key)
    replica.delete_version(key, version.version_id)

    image, result = replayed_image(site, tmp_path)

    assert result.entries == 1
    assert result.problem == ("journal entry 2 is missing from the replica; 1 later entry "
                              "cannot be applied")
    with closing(sqlite3.connect(image)) as db:
        texts = [row[0] for row in db.execute("SELECT text FROM pages WHERE text LIKE 'minute%'")]
    assert texts == ["minute 0"]


def test_a_damaged_entry_stops_the_replay_before_it(site, tmp_path):
    _data_dir, database, _snapshot, replica = site
    for n in range(2):
        insert(database, f"minute {n}")
        journal(site)
    key = sqlite_journal.entry_key(sqlite_journal.generation_of(SNAPSHOT), 2)
    (version,) = replica.list_versions(key)
    stored = replica.root.joinpath(*key.split("/"), VERSIONS_DIR, version.version_id)
    damaged = bytearray(stored.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    stored.chmod(0o600)
    stored.write_bytes(bytes(damaged))

    _image, result = replayed_image(site, tmp_path)

    assert result.entries == 1
    assert result.problem.startswith("journal entry 2 cannot be read")


def test_the_entries_of_a_snapshot_no_longer_kept_are_deleted(site):
    _data_dir, database, _snapshot, replica = site
    write(database, "INSERT INTO pages (text) VALUES ('x')")
    journal(site)
    assert replica.list_keys(sqlite_journal.JOURNAL_PREFIX)

    assert sqlite_journal.prune_generations(replica, [SNAPSHOT]) == 0
    assert sqlite_journal.prune_generations(replica, ["a newer snapshot"]) == 1
    assert replica.list_keys(sqlite_journal.JOURNAL_PREFIX) == []
