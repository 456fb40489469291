"""The replica endpoint (moto over HTTP) stops in the middle of a replication run, on both
databases: the objects copied before the outage stay recorded and verified, the rest fail
and wait, nothing is recorded as replicated that the replica does not hold, the primary is
not touched, and when the endpoint is back on the same host:port the next run copies every
object that waits, once each, and every copy verifies."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from backup import replication
from backup.replication import replicate
from tests.backup.replicas import copies, replica_digest
from tests.storefixtures import _AWS_ENV


class ReplicaStopsAfterFirstVerify:
    """Fault injection: wraps ``replication._verify`` and stops the replica endpoint right
    after the first copy has been read back and verified, in the middle of the run."""

    def __init__(self, real, server: ThreadedMotoServer):
        self.real, self.server = real, server
        self.verified: list[str] = []  # keys verified before the endpoint stopped
        self.stopped = False

    def __call__(self, replica, key: str, replica_version: str, sha256: str) -> None:
        self.real(replica, key, replica_version, sha256)
        if not self.stopped:
            self.verified.append(key)
            self.stopped = True
            self.server.stop()  # werkzeug closes the listening socket: connections are refused


def primary_files(root: Path) -> dict[str, str]:
    """Every file of the filesystem primary (versions and their sidecars) and its SHA-256."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.usefixtures("charts", "replica_server")  # settings puts the replica on S3
def test_the_replica_endpoint_stopping_mid_run_loses_nothing_and_the_next_run_catches_up(
    request, ext, monkeypatch
):
    for name, value in _AWS_ENV.items():
        monkeypatch.setenv(name, value)
    server: ThreadedMotoServer = request.getfixturevalue("replica_server")
    host, port = server.get_host_and_port()
    primary_before = primary_files(ext.settings.objects_dir)
    outage = ReplicaStopsAfterFirstVerify(replication._verify, server)
    monkeypatch.setattr(replication, "_verify", outage)

    during = replicate(ext, budget=timedelta(seconds=60))

    rows = copies(ext)
    assert len(rows) >= 3 and outage.stopped
    assert (during.copied, during.adopted, during.failed) == (1, 0, len(rows) - 1)
    replicated = [row for row in rows if row.state == "replicated"]
    assert [row.key for row in replicated] == outage.verified
    assert all(row.state == "failed" and row.last_error for row in rows if row not in replicated)
    assert primary_files(ext.settings.objects_dir) == primary_before

    monkeypatch.setattr(replication, "_verify", outage.real)
    back = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    back.start()
    try:
        # Nothing was recorded as replicated that the replica does not hold, byte for byte.
        for row in replicated:
            versions = [info.version_id for info in ext.replica.list_versions(row.key)]
            assert versions == [row.replica_version_id]
            assert replica_digest(ext, row) == row.sha256

        caught_up = replicate(ext, budget=timedelta(seconds=60))

        assert (caught_up.copied, caught_up.failed) == (len(rows) - 1, 0)
        rows = copies(ext)
        assert all(row.state == "replicated" for row in rows)
        assert all(replica_digest(ext, row) == row.sha256 for row in rows)
        # One replica version per stored object: nothing was copied twice.
        stored = Counter(row.key for row in rows)
        for key, count in stored.items():
            versions = {info.version_id for info in ext.replica.list_versions(key)}
            assert len(versions) == count
            assert versions == {row.replica_version_id for row in rows if row.key == key}
        assert primary_files(ext.settings.objects_dir) == primary_before
        assert replicate(ext).copied == 0
    finally:
        back.stop()
