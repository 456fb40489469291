"""Throughput and memory of FilesystemStore against the plain operations it wraps.

    python -m bench.storage [--total-mib 1024] [--dir /var/tmp] [--seed 1]

Stores and reads back ``--total-mib`` of random data in objects of 1-50 MiB and prints,
in the same run:

* put: ``store.put`` next to a plain write + fsync of the same bytes (target >= 80 %);
* get: consuming ``store.open`` next to plain ``hashlib.sha256`` over the same bytes
  already in memory (target >= 70 %);
* peak traced memory of put and get for the smallest and the largest object, which must
  not grow with object size.

An extra "info" line compares put with the plain write and the hash added together: the
least work a put that checksums its bytes has to do.

Each object is timed right after its baseline (the order alternates per object) so disk
and page-cache drift hits both sides alike. The source files come from ``os.urandom``,
written once before anything is timed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from archive.interfaces import CHUNK_SIZE
from archive.storage.filesystem import FilesystemStore

MIB = 1024 * 1024
PUT_TARGET = 0.80
GET_TARGET = 0.70
MEDIA_TYPE = "application/octet-stream"


@dataclass
class Sample:
    path: Path
    size: int
    key: str
    version_id: str = ""


def object_sizes(total: int, rng: random.Random, low: int = MIB, high: int = 50 * MIB) -> list[int]:
    sizes: list[int] = []
    remaining = total
    while remaining > 0:
        size = min(rng.randint(low, high), remaining)
        if remaining - size < low and remaining - size > 0:
            size = remaining  # no runt object at the end
        sizes.append(size)
        remaining -= size
    return sizes


def write_sources(directory: Path, sizes: list[int]) -> list[Sample]:
    directory.mkdir()
    samples = []
    for index, size in enumerate(sizes):
        path = directory / f"src-{index:04d}"
        with path.open("wb") as out:
            left = size
            while left:
                block = os.urandom(min(CHUNK_SIZE, left))
                out.write(block)
                left -= len(block)
        samples.append(Sample(path, size, f"bench/{index:04d}/original"))
    return samples


def plain_write(source: Path, target: Path) -> float:
    """Copy with write + fsync, chunk by chunk, the way any careful writer would."""
    with source.open("rb", buffering=0) as src:
        started = time.perf_counter()
        with target.open("wb", buffering=0) as out:
            while chunk := src.read(CHUNK_SIZE):
                out.write(chunk)
            os.fsync(out.fileno())
        return time.perf_counter() - started


def store_put(store: FilesystemStore, sample: Sample) -> float:
    with sample.path.open("rb", buffering=0) as src:
        started = time.perf_counter()
        stored = store.put(sample.key, src, media_type=MEDIA_TYPE, length=sample.size)
        elapsed = time.perf_counter() - started
    sample.version_id = stored.version_id
    return elapsed


def plain_hash(source: Path) -> float:
    data = source.read_bytes()
    started = time.perf_counter()
    hashlib.sha256(data).hexdigest()
    return time.perf_counter() - started


def store_get(store: FilesystemStore, sample: Sample) -> float:
    started = time.perf_counter()
    received = 0
    for chunk in store.open(sample.key, sample.version_id):
        received += len(chunk)
    elapsed = time.perf_counter() - started
    assert received == sample.size
    return elapsed


def traced_peak(action) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def rate(total_bytes: int, seconds: float) -> float:
    return total_bytes / MIB / seconds


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def run(total_mib: int, directory: str | None, seed: int) -> int:
    rng = random.Random(seed)
    sizes = object_sizes(total_mib * MIB, rng)
    total = sum(sizes)
    with tempfile.TemporaryDirectory(prefix="chartvault-bench-", dir=directory) as tmp:
        base = Path(tmp)
        print(
            f"ChartVault storage bench  {time.strftime('%Y-%m-%d')}  "
            f"python {platform.python_version()}  {os.cpu_count()} cores  dir {base}"
        )
        print(
            f"{len(sizes)} objects, {total / MIB:.0f} MiB total, "
            f"{min(sizes) / MIB:.1f}-{max(sizes) / MIB:.1f} MiB each, chunk "
            f"{CHUNK_SIZE // 1024} KiB, seed {seed}"
        )
        samples = write_sources(base / "src", sizes)
        plain_dir = base / "plain"
        plain_dir.mkdir()
        store = FilesystemStore(base / "store")

        put_time = plain_time = 0.0
        for index, sample in enumerate(samples):
            target = plain_dir / sample.path.name
            if index % 2:
                put_time += store_put(store, sample)
                plain_time += plain_write(sample.path, target)
            else:
                plain_time += plain_write(sample.path, target)
                put_time += store_put(store, sample)
            target.unlink()  # keep the disk footprint at source + store

        get_time = hash_time = 0.0
        for index, sample in enumerate(samples):
            if index % 2:
                get_time += store_get(store, sample)
                hash_time += plain_hash(sample.path)
            else:
                hash_time += plain_hash(sample.path)
                get_time += store_get(store, sample)

        smallest = min(samples, key=lambda s: s.size)
        largest = max(samples, key=lambda s: s.size)
        peaks = {}
        for label, sample in (("smallest", smallest), ("largest", largest)):
            probe = Sample(sample.path, sample.size, sample.key + "-peak")
            peaks[label] = (
                sample.size,
                traced_peak(lambda probe=probe: store_put(store, probe)),
                traced_peak(lambda probe=probe: store_get(store, probe)),
            )

    put_ratio = plain_time / put_time
    get_ratio = hash_time / get_time
    memory_ok = all(
        put <= 4 * CHUNK_SIZE and get <= 4 * CHUNK_SIZE for _, put, get in peaks.values()
    )
    print()
    print(f"{'operation':<34}{'MiB/s':>10}{'baseline MiB/s':>16}{'ratio':>8}{'target':>8}")
    print(
        f"{'put  vs write+fsync':<34}{rate(total, put_time):>10.0f}"
        f"{rate(total, plain_time):>16.0f}{put_ratio:>8.0%}{PUT_TARGET:>8.0%}  "
        f"{verdict(put_ratio >= PUT_TARGET)}"
    )
    print(
        f"{'get  vs hashlib.sha256 in memory':<34}{rate(total, get_time):>10.0f}"
        f"{rate(total, hash_time):>16.0f}{get_ratio:>8.0%}{GET_TARGET:>8.0%}  "
        f"{verdict(get_ratio >= GET_TARGET)}"
    )
    # What put must do at least: the plain write and the hash, one after the other.
    floor = plain_time + hash_time
    print(
        f"{'(put vs write+fsync then sha256)':<34}{rate(total, put_time):>10.0f}"
        f"{rate(total, floor):>16.0f}{floor / put_time:>8.0%}{'info':>8}"
    )
    print()
    print(f"{'peak traced memory':<20}{'object MiB':>12}{'put MiB':>10}{'get MiB':>10}")
    for label, (size, put_peak, get_peak) in peaks.items():
        print(f"{label:<20}{size / MIB:>12.1f}{put_peak / MIB:>10.2f}{get_peak / MIB:>10.2f}")
    print(
        f"memory independent of object size (every peak <= {4 * CHUNK_SIZE // MIB} MiB): "
        f"{verdict(memory_ok)}"
    )
    print(f"process max RSS: {resident_mib():.0f} MiB")
    return 0 if put_ratio >= PUT_TARGET and get_ratio >= GET_TARGET and memory_ok else 1


def resident_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total-mib", type=int, default=1024, help="data to store (MiB)")
    parser.add_argument("--dir", help="where to put the temporary files (default: $TMPDIR)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the object sizes")
    args = parser.parse_args(argv)
    return run(args.total_mib, args.dir, args.seed)


if __name__ == "__main__":
    sys.exit(main())
