"""Anchors of the audit chain in the replica store (filesystem and S3 over HTTP), and
`chartvault audit verify` checking the chain against the key and every anchor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from minio.error import S3Error
from sqlalchemy import delete, select, update

from archive import audit
from archive.audit import Anchor, compute_mac, verify_chain
from archive.audit_anchor import (
    ANCHORS,
    RestorePoint,
    check,
    current_anchors,
    list_anchors,
    record_restore,
    write_anchor,
)
from archive.cli import cli
from archive.errors import ObjectLocked
from archive.models import AuditEvent, AuditHead, utcnow
from archive.storage.filesystem import VERSIONS_DIR, FilesystemStore
from tests.archive.test_audit import plain_sha256_marked_unkeyed, rewrite_from, write_events
from tests.storefixtures import BACKENDS, s3_store


@pytest.fixture(params=BACKENDS)
def replica(request, ext):
    """The archive's own filesystem replica, or a bucket of S3 (moto over HTTP)."""
    if request.param == "filesystem":
        return ext.replica
    return s3_store(request.getfixturevalue("moto_endpoint"))


def delete_newest(ext, keep: int) -> None:
    """The other attack: delete the newest events and rewind the head row to match."""
    with ext.db.transaction() as session:
        last = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == keep))
        session.execute(delete(AuditEvent).where(AuditEvent.seq > keep))
        session.execute(update(AuditHead).where(AuditHead.id == 1)
                        .values(last_seq=keep, last_hash=last))


def test_an_anchor_records_the_head_once_and_is_held(ext, replica):
    write_events(ext, 3)

    anchor, new = write_anchor(ext.db, replica)
    again, new_again = write_anchor(ext.db, replica)

    with ext.db.transaction() as session:
        head = session.get(AuditHead, 1)
    assert new and not new_again and again == anchor
    assert (anchor.seq, anchor.hash, anchor.keyed_from) == (3, head.last_hash, 1)
    assert list_anchors(replica) == [anchor]
    [version] = replica.list_versions(anchor.name)
    assert version.legal_hold is True
    with pytest.raises(ObjectLocked):
        replica.delete_version(anchor.name, version.version_id)
    write_events(ext, 1)
    newer, new = write_anchor(ext.db, replica)
    assert new and newer.seq == 4 and [a.seq for a in list_anchors(replica)] == [3, 4]


def test_a_filesystem_anchor_is_a_read_only_file_never_rewritten(ext):
    write_events(ext, 2)
    anchor, _ = write_anchor(ext.db, ext.replica)
    directory = ext.settings.replica_root.joinpath(*anchor.name.split("/"), VERSIONS_DIR)
    [data] = [path for path in directory.iterdir() if not path.name.endswith((".json", ".lock"))]
    assert data.stat().st_mode & 0o777 == 0o444
    before = data.stat().st_mtime_ns

    write_anchor(ext.db, ext.replica)

    assert len(ext.replica.list_versions(anchor.name)) == 1
    assert data.stat().st_mtime_ns == before


def test_an_s3_anchor_has_the_buckets_legal_hold_and_survives_a_delete_marker(
    ext, moto_endpoint
):
    replica = s3_store(moto_endpoint)
    write_events(ext, 3)
    anchor, _ = write_anchor(ext.db, replica)
    [version] = replica.list_versions(anchor.name)
    client = replica._client  # the S3 API itself, not the store's own checks

    assert client.is_object_legal_hold_enabled(replica.bucket, anchor.name,
                                               version_id=version.version_id)
    with pytest.raises(S3Error) as refused:
        client.remove_object(replica.bucket, anchor.name, version_id=version.version_id)
    assert refused.value.code == "AccessDenied"
    client.remove_object(replica.bucket, anchor.name)  # a delete marker hides the key...
    delete_newest(ext, keep=2)

    report = check(ext.db, replica).report  # ...but not from the anchors' listing
    assert (report.ok, report.first_broken_seq) == (False, 3)


def test_deleting_the_newest_events_and_the_head_with_them_is_noticed(ext, replica):
    write_events(ext, 6)
    write_anchor(ext.db, replica)

    delete_newest(ext, keep=4)

    with ext.db.transaction() as session:
        assert verify_chain(session).ok  # the key alone cannot tell: the rest is a valid chain
    report = check(ext.db, replica).report
    assert (report.ok, report.first_broken_seq, report.events_checked) == (False, 5, 4)
    assert "newest events were deleted" in report.problem and "records event 6" in report.problem


def test_an_event_rewritten_after_its_anchor_is_named_even_with_the_key(ext, replica):
    write_events(ext, 5)
    write_anchor(ext.db, replica)
    # Someone who also stole the key: every MAC is right again, the anchor is not.
    rewrite_from(ext, 2, lambda event: setattr(event, "hash",
                                               compute_mac(event, ext.db.audit_key)))

    with ext.db.transaction() as session:
        assert verify_chain(session).ok
    report = check(ext.db, replica).report
    assert (report.ok, report.first_broken_seq) == (False, 5)
    assert "rewritten" in report.problem and ANCHORS in report.problem


def test_rewriting_the_whole_chain_as_old_unkeyed_events_is_noticed(ext, replica):
    write_events(ext, 5)
    write_anchor(ext.db, replica)

    rewrite_from(ext, 1, plain_sha256_marked_unkeyed)

    report = check(ext.db, replica).report
    assert (report.ok, report.first_broken_seq) == (False, 1)
    assert "keyed since event 1" in report.problem


def test_anchors_of_events_lost_with_a_restore_are_set_aside():
    now = utcnow()

    def anchor(seq, minutes):
        return Anchor(seq, "0" * 64, now + timedelta(minutes=minutes), f"a{seq}")

    before, lost, after = anchor(5, -20), anchor(9, -10), anchor(9, 10)
    kept, set_aside = current_anchors([before, lost, after], [RestorePoint(7, now)])

    assert kept == [before, after] and set_aside == [lost]


def test_a_restore_marker_sets_the_lost_events_anchors_aside_in_verify(ext, replica):
    write_events(ext, 5)
    write_anchor(ext.db, replica)
    delete_newest(ext, keep=3)  # what loading an older snapshot does to the chain

    record_restore(replica, 3)
    write_events(ext, 4)  # the restored archive goes on: seq 4.. again, other MACs
    write_anchor(ext.db, replica)

    result = check(ext.db, replica)
    assert result.report.ok, result.report
    assert [a.seq for a in result.lost_in_restores] == [5]
    assert result.anchors == 1 and result.report.anchors_checked == 1


# --- the command ----------------------------------------------------------------------------------


def verify_command(ext):
    env = {"CHARTVAULT_DATA_DIR": str(ext.settings.data_dir),
           "CHARTVAULT_DATABASE_URL": ext.settings.database_url,
           "CHARTVAULT_REPLICA_DIR": str(ext.settings.replica_root),
           "CHARTVAULT_REPLICA_STORAGE": None}
    return CliRunner().invoke(cli, ["audit", "verify"], env=env, catch_exceptions=False)


def test_audit_verify_checks_the_key_and_every_anchor(ext):
    write_events(ext, 3)
    no_anchor = verify_command(ext)
    assert no_anchor.exit_code == 0, no_anchor.output
    assert "Audit chain intact: 3 events" in no_anchor.output
    assert "No anchor in the replica store covers this chain yet" in no_anchor.output

    write_anchor(ext.db, ext.replica)
    anchored = verify_command(ext)
    assert anchored.exit_code == 0 and "All 1 anchors in the replica store match" in \
        anchored.output

    delete_newest(ext, keep=2)
    deleted = verify_command(ext)
    assert deleted.exit_code == 1
    assert "Audit chain broken at event 3: the newest events were deleted" in deleted.output


def test_audit_verify_names_the_rewritten_event(ext):
    write_events(ext, 4)
    rewrite_from(ext, 2, plain_sha256_marked_unkeyed)

    result = verify_command(ext)

    assert result.exit_code == 1
    assert "Audit chain broken at event 2" in result.output


def test_audit_verify_says_when_the_anchors_could_not_be_checked(ext):
    write_events(ext, 2)
    ext.settings.replica_root.parent.mkdir(parents=True, exist_ok=True)
    ext.settings.replica_root.write_text("not a directory")  # the replica's disk is gone

    result = verify_command(ext)

    assert result.exit_code == 1
    assert "Audit chain intact: 2 events" in result.output
    assert "anchors were NOT checked" in result.output


def test_audit_verify_without_a_key_refuses(ext, monkeypatch):
    write_events(ext, 1)
    monkeypatch.delenv("CHARTVAULT_AUDIT_KEY")

    result = verify_command(ext)

    assert result.exit_code == 1 and "No audit key is configured" in result.output


def test_check_reads_a_fresh_filesystem_replica_as_no_anchors(ext, tmp_path):
    write_events(ext, 1)
    result = check(ext.db, FilesystemStore(tmp_path / "nowhere"))
    assert result.report.ok and result.anchors == 0 and not result.replica_problem


def test_events_written_after_the_newest_anchor_still_verify(ext, replica):
    write_events(ext, 2)
    write_anchor(ext.db, replica)
    audit.record_now(ext.db, audit.Actor("tests"), "test.after")
    assert check(ext.db, replica).report.ok
