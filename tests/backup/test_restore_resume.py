"""`chartvault restore` run again after it was cut short (the copies it made are taken up,
not written again, and none is left orphaned), restoring into a primary store that survived
the disaster, and reading the object list a few keys at a time."""

from __future__ import annotations

import multiprocessing
import os
import shutil

from archive.errors import StorageUnavailable
from archive.storage.filesystem import FilesystemStore
from backup import replication, restore_copies, restore_objects, store_workers
from backup.restore import MARKER
from backup.restore_objects import stored_refs
from backup.snapshots import take_snapshot
from tests.backup import test_restore
from tests.backup.restoring import (
    chartvault,
    environment,
    lose_the_primary,
    open_restored,
    version_digests,
)
from tests.conftest import People

# The installation, its replica and where the restored database goes, as test_restore sets
# them up (fixtures are found by their names in the module).
settings, target_url, library = test_restore.settings, test_restore.target_url, test_restore.library


class FailsOnce:
    """Fault injection: the storage stops answering part-way through the copying."""

    def __init__(self, real, after: int):
        self.real, self.calls, self.after = real, 0, after

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.after:
            raise StorageUnavailable("injected: the primary store stopped answering")
        return self.real(*args, **kwargs)


def test_a_restore_cut_short_is_run_again_to_its_end_injected_store_failure(
    ext, people, library, settings, target_url, monkeypatch
):
    digests = version_digests(ext, people.principal("staff"))
    objects = len(list(stored_refs(ext)))
    env = lose_all_but_the_replica(ext, settings, target_url)
    # The failure is injected in this process, so the copies must run here: in threads.
    monkeypatch.setattr(store_workers, "PROCESSES", 1)
    monkeypatch.setattr(restore_copies, "restore_object",
                        FailsOnce(restore_copies.restore_object, after=6))

    cut_short = chartvault(env, "restore", "--from", str(settings.replica_dir), "--yes")

    assert cut_short.exit_code == 1 and "injected" in cut_short.output
    assert (settings.data_dir / MARKER).exists()
    left_behind = versions_in_store(settings.data_dir / "objects")
    assert 0 < len(left_behind) < objects  # the copies made before the failure
    resumed = chartvault(env, "restore", "--from", str(settings.replica_dir), "--yes")
    assert resumed.exit_code == 0, resumed.output
    # What the first run copied is taken up, not written again.
    assert "(restore resumed)" in resumed.output
    assert f"({len(left_behind)} already in place)" in resumed.output
    assert_restored_with(settings, target_url, digests)


def die_in_the_worker(*_args):
    """Fault injection: the copy worker process is killed (as the kernel's out-of-memory
    killer would), in the middle of its batch."""
    assert multiprocessing.parent_process() is not None, "must run in a worker process"
    os._exit(9)


def test_a_killed_copy_worker_stops_the_restore_with_a_clear_message_and_it_resumes_injected_kill(
    ext, people, library, settings, target_url, monkeypatch
):
    digests = version_digests(ext, people.principal("staff"))
    env = lose_all_but_the_replica(ext, settings, target_url)
    with monkeypatch.context() as patched:
        patched.setattr(restore_objects, "place_keys", die_in_the_worker)
        cut_short = chartvault(env, "restore", "--from", str(settings.replica_dir), "--yes")

    assert cut_short.exit_code == 1
    assert "A copy worker process died" in cut_short.output
    assert "run the same chartvault restore command again" in cut_short.output
    assert "Traceback" not in cut_short.output
    resumed = chartvault(env, "restore", "--from", str(settings.replica_dir), "--yes")
    assert resumed.exit_code == 0, resumed.output
    assert "(restore resumed)" in resumed.output
    assert_restored_with(settings, target_url, digests)


def lose_all_but_the_replica(ext, settings, target_url) -> dict[str, str | None]:
    """Replicate and snapshot, then lose the primary: the restore's environment."""
    replication.replicate(ext)
    take_snapshot(ext)
    lose_the_primary(ext, settings)
    return environment(settings, target_url)


def assert_restored_with(settings, target_url, digests) -> None:
    """The restored archive holds every version with the bytes it had before the loss."""
    restored = open_restored(settings, target_url)
    try:
        again = restored.extensions["chartvault"]
        assert version_digests(again, People(again, {}).principal("staff")) == digests
    finally:
        restored.extensions["chartvault"].db.dispose()


def versions_in_primary(ext) -> set[tuple[str, str]]:
    return {(key, info.version_id) for key in ext.store.list_keys("documents/")
            for info in ext.store.list_versions(key)}


def versions_in_store(root) -> set[tuple[str, str]]:
    """Every version a filesystem store at ``root`` holds, whatever its key."""
    store = FilesystemStore(root)
    return {(key, info.version_id) for key in store.list_keys()
            for info in store.list_versions(key)}


def test_a_restore_cut_short_between_copy_and_relocation_leaves_no_orphan_version_injected_failure(
    ext, people, library, settings, target_url, monkeypatch
):
    digests = version_digests(ext, people.principal("staff"))
    replication.replicate(ext)
    take_snapshot(ext)
    lose_the_primary(ext, settings)
    env = environment(settings, target_url)
    # The object is in the new primary, its rows still name the old version: a crash then.
    monkeypatch.setattr(replication, "relocate_objects",
                        FailsOnce(replication.relocate_objects, after=1))

    cut_short = chartvault(env, "restore", "--from", str(settings.replica_dir), "--yes")

    assert cut_short.exit_code == 1 and "injected" in cut_short.output
    left_behind = versions_in_store(settings.data_dir / "objects")
    assert left_behind  # copies written, their rows not moved
    resumed = chartvault(env, "restore", "--from", str(settings.replica_dir), "--yes")
    assert resumed.exit_code == 0, resumed.output  # the full verify passed
    restored = open_restored(settings, target_url)
    try:
        again = restored.extensions["chartvault"]
        named = {(ref.key, ref.version_id) for ref in stored_refs(again)
                 if ref.key.startswith("documents/")}
        assert versions_in_primary(again) == named  # one version per object, none orphaned
        # The copies left behind by the crash were adopted, not written again.
        assert f"({len(left_behind)} already in place)" in resumed.output
        assert version_digests(again, People(again, {}).principal("staff")) == digests
    finally:
        restored.extensions["chartvault"].db.dispose()


def test_a_restore_into_a_primary_store_that_survived_writes_no_object_again(
    ext, people, library, settings, target_url
):
    digests = version_digests(ext, people.principal("staff"))
    objects = len(list(stored_refs(ext)))
    replication.replicate(ext)
    take_snapshot(ext)
    ext.db.dispose()
    survived = versions_in_store(settings.data_dir / "objects")
    for path in settings.data_dir.iterdir():  # the database is lost, the object store is not
        if path.name != "objects":
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    result = chartvault(environment(settings, target_url),
                        "restore", "--from", str(settings.replica_dir), "--yes")

    assert result.exit_code == 0, result.output
    assert "(restore resumed)" not in result.output
    assert f"Objects copied from the replica and verified: 0 ({objects} already in place)" \
        in result.output
    assert versions_in_store(settings.data_dir / "objects") == survived
    restored = open_restored(settings, target_url)
    try:
        again = restored.extensions["chartvault"]
        assert version_digests(again, People(again, {}).principal("staff")) == digests
    finally:
        restored.extensions["chartvault"].db.dispose()


class BatchSpy:
    """Instrumentation, not a fake: passes restore_objects.ref_batches through, noting each
    batch."""

    def __init__(self, real):
        self.real, self.batches = real, []

    def __call__(self, *args, **kwargs):
        for batch in self.real(*args, **kwargs):
            self.batches.append([(ref.key, ref.version_id) for ref in batch])
            yield batch


def test_a_restore_reads_its_object_list_a_few_keys_at_a_time(
    ext, people, library, settings, target_url, monkeypatch
):
    digests = version_digests(ext, people.principal("staff"))
    refs = list(stored_refs(ext))
    most_versions = max(sum(1 for r in refs if r.key == ref.key) for ref in refs)
    replication.replicate(ext)
    take_snapshot(ext)
    lose_the_primary(ext, settings)
    monkeypatch.setattr(restore_objects, "KEYS_PER_BATCH", 3)
    spy = BatchSpy(restore_objects.ref_batches)
    monkeypatch.setattr(restore_objects, "ref_batches", spy)

    result = chartvault(environment(settings, target_url),
                        "restore", "--from", str(settings.replica_dir), "--yes")

    assert result.exit_code == 0, result.output
    assert len(spy.batches) > len(refs) // (3 * most_versions)  # many pages, not one list
    assert all(len({key for key, _version in batch}) <= 3 for batch in spy.batches)
    assert max(len(batch) for batch in spy.batches) <= 3 * most_versions < len(refs)
    # Each object once, in key order, none skipped or repeated at a page edge.
    assert [key for batch in spy.batches for key, _version in batch] == [r.key for r in refs]
    assert f"{len(refs)} of {len(refs)} objects" in result.output
    restored = open_restored(settings, target_url)
    try:
        again = restored.extensions["chartvault"]
        assert version_digests(again, People(again, {}).principal("staff")) == digests
        assert sorted((r.key, r.sha256) for r in stored_refs(again, keys_per_batch=2)) == sorted(
            (r.key, r.sha256) for r in refs)
    finally:
        restored.extensions["chartvault"].db.dispose()
