"""Integrity-scrub throughput beside plain ``hashlib.sha256`` over the same files.

    python -m bench.scrub [--objects 64] [--mib 32] [--rounds 2] [--seed 1] [--dir DIR]

Untimed setup: a migrated SQLite database, a FilesystemStore primary and replica in a
temporary directory, ``--objects`` objects of ``--mib`` MiB of seeded random bytes stored in
both and registered as replicated ``ObjectCopy`` rows (2 GiB per side by default).

Timed, ``--rounds`` times, alternating: plain ``hashlib.sha256`` over every version file of
both stores (read in 1 MiB chunks, unbuffered), then ``backup.scrub.scrub(ext,
everything=True)`` - the code the hourly job and ``chartvault verify --all`` run, which
reads both copies of every object against the recorded SHA-256. Both read the same bytes
from the page cache (the files were just written and fit in memory), so the comparison is of
CPU work, not of the disk.

Target (issue): the scrub verifies at least 80 % of the hashing rate per core it uses:
(scrub bytes / scrub CPU seconds) / (hashlib bytes / hashlib CPU seconds) >= 0.80, best
round of each. Both are single-threaded, so on a quiet machine CPU seconds are about wall
seconds; dividing by CPU time keeps a neighbour's load (which takes the core away from
either side for a while) out of the ratio. The wall-clock rates are printed beside it.
Prints PASS or FAIL (exit status 1 on FAIL), and the CPU other processes used meanwhile:
the machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from archive import migrate
from archive.config import Settings
from archive.extensions import Archive
from archive.interfaces import CHUNK_SIZE
from archive.models import utcnow
from archive.storage.filesystem import VERSIONS_DIR
from archive.storage.rules import split_key
from backup.models import ObjectCopy
from backup.scrub import scrub
from bench.ocr import OtherLoad, load, others_note, verdict

MIB = 1024 * 1024
TARGET = 0.80


@dataclass(frozen=True)
class Timing:
    bytes: int
    wall: float
    cpu: float  # this process's user + system seconds
    others: float  # cores other processes used meanwhile

    @property
    def rate(self) -> float:
        return self.bytes / self.wall / 1e6

    @property
    def cores(self) -> float:
        return self.cpu / self.wall

    @property
    def per_core(self) -> float:
        return self.bytes / self.cpu / 1e6

    def line(self, label: str) -> str:
        return (f"{label:<8} {self.bytes / 1e9:6.2f} GB in {self.wall:6.2f} s = "
                f"{self.rate:6.1f} MB/s; CPU {self.cpu:6.2f} s ({self.cores:.2f} cores) = "
                f"{self.per_core:6.1f} MB/s per core; {others_note(self.others)}")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(action) -> tuple[Timing, object]:
    with OtherLoad() as others:
        cpu, started = _cpu(), time.perf_counter()
        nbytes, result = action()
        wall, cpu = time.perf_counter() - started, _cpu() - cpu
    return Timing(nbytes, wall, cpu, others.cores), result


def version_file(root: Path, key: str, version_id: str) -> Path:
    return root.joinpath(*split_key(key), VERSIONS_DIR, version_id)


def hash_files(paths: list[Path]) -> tuple[int, list[str]]:
    total, digests = 0, []
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb", buffering=0) as stream:
            while count := stream.readinto(buffer):
                digest.update(view[:count])
                total += count
        digests.append(digest.hexdigest())
    return total, digests


def build(root: Path, objects: int, size: int, seed: int) -> tuple[Archive, list[Path], list[str]]:
    settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'bench.db'}",
                        replica_dir=root / "replica")
    settings.data_dir.mkdir(parents=True)
    ext = Archive(settings, pooled=False)
    migrate.upgrade(ext.db.engine)
    rng = random.Random(seed)
    paths, digests = [], []
    with ext.db.transaction() as session:
        for number in range(objects):
            data = rng.randbytes(size)
            key = f"bench/object-{number:04d}"
            primary = ext.store.put(key, _Bytes(data), media_type="application/octet-stream",
                                    length=size)
            replica = ext.replica.put(key, _Bytes(data), media_type="application/octet-stream",
                                      length=size)
            session.add(ObjectCopy(key=key, version_id=primary.version_id,
                                   sha256=primary.sha256, size=size, kind="original",
                                   stored_at=utcnow(), state="replicated",
                                   replica_version_id=replica.version_id, attempts=0,
                                   last_error="", replicated_at=utcnow()))
            paths += [version_file(settings.objects_dir, key, primary.version_id),
                      version_file(settings.replica_root, key, replica.version_id)]
            digests += [primary.sha256, replica.sha256]
    return ext, paths, digests


class _Bytes:
    """A readable stream over bytes, without the copy io.BytesIO makes."""

    def __init__(self, data: bytes):
        self._view, self._at = memoryview(data), 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n < 0 else self._at + n
        chunk = self._view[self._at : end].tobytes()
        self._at += len(chunk)
        return chunk


def run(args: argparse.Namespace) -> bool:
    size = args.mib * MIB
    needed = 2 * args.objects * size
    with tempfile.TemporaryDirectory(prefix="chartvault-scrub-", dir=args.dir) as tmp:
        root = Path(tmp)
        free = shutil.disk_usage(root).free
        if free < needed * 1.2:
            raise SystemExit(f"{root}: {free / 1e9:.1f} GB free, {needed * 1.2 / 1e9:.1f} GB "
                             "needed; pass --dir on a disk with room, or fewer --objects.")
        print(f"machine: {platform.processor() or platform.machine()}, Python "
              f"{platform.python_version()}; load average {load()}; dir {root}")
        started = time.perf_counter()
        ext, paths, digests = build(root, args.objects, size, args.seed)
        print(f"{args.objects} objects of {args.mib} MiB, stored in the primary and the "
              f"replica ({needed / 1e9:.2f} GB on both sides; chunk {CHUNK_SIZE // 1024} KiB; "
              f"seed {args.seed}), set up in {time.perf_counter() - started:.1f} s (untimed)\n")
        hashing: list[Timing] = []
        scrubbing: list[Timing] = []
        try:
            for number in range(args.rounds):
                timing, found = timed(lambda: hash_files(paths))
                assert found == digests, "the files do not hash to what the stores recorded"
                hashing.append(timing)
                print(timing.line(f"hashlib{number + 1}"))
                now = utcnow() + timedelta(hours=number)
                timing, report = timed(lambda now=now: _scrub(ext, now))
                assert (report.checked, report.repaired, report.unrepaired) == (args.objects, 0, 0)
                scrubbing.append(timing)
                print(timing.line(f"scrub{number + 1}"))
        finally:
            ext.db.dispose()
    best_hash = max(hashing, key=lambda t: t.per_core)
    best_scrub = max(scrubbing, key=lambda t: t.per_core)
    ratio = best_scrub.per_core / best_hash.per_core
    ok = ratio >= TARGET
    print(f"\nbest rounds: scrub {best_scrub.rate:.1f} MB/s on {best_scrub.cores:.2f} cores = "
          f"{best_scrub.per_core:.1f} MB/s per core; hashlib {best_hash.rate:.1f} MB/s on "
          f"{best_hash.cores:.2f} cores = {best_hash.per_core:.1f} MB/s per core")
    print(f"scrub per-core rate / hashlib per-core rate = {ratio:.1%} (target >= "
          f"{TARGET:.0%}): {verdict(ok)}; wall-clock rates {best_scrub.rate / best_hash.rate:.1%}")
    return ok


def _scrub(ext: Archive, now) -> tuple[int, object]:
    report = scrub(ext, now=now, everything=True)
    return report.bytes_verified, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=64)
    parser.add_argument("--mib", type=int, default=32, help="size of each object")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default=None, help="where to put the stores (default: /tmp)")
    return 0 if run(parser.parse_args(argv)) else 1


if __name__ == "__main__":
    sys.exit(main())
