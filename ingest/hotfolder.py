"""The scanner hot folder: ``<HOT_FOLDER>/<MRN>/<type>/<file>``, and at its root whole
scanned stacks with cover sheets, each queued as a batch (ingest.batches) that the worker
splits by its sheets.

A scanner writes into the folder over several seconds, so a file is taken only once its
size and modification time have stayed the same for ``settle_seconds``. Each file taken is
filed through the same service as an upload and then moved to ``done/`` or ``rejected/``
(same relative path) with a ``.reason.txt`` beside a rejected one. A crash between filing
and moving files it again on the next scan, which the duplicate check answers with the
existing document: nothing is filed twice and nothing is lost.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from archive.auth.permissions import SYSTEM_ROLE, Principal
from archive.extensions import Archive
from ingest.intake import Outcome, batch_from_disk, file_from_disk

log = logging.getLogger(__name__)

DONE, REJECTED = "done", "rejected"
# Names scanners and copy tools use while a file is still being written.
PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".filepart")
PRINCIPAL = Principal(username="hot-folder", role=SYSTEM_ROLE, source="hot folder")


@dataclass(frozen=True)
class _Seen:
    size: int
    mtime_ns: int
    since: float


class HotFolder:
    def __init__(
        self,
        ext: Archive,
        root: Path,
        *,
        settle_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ext = ext
        self.root = root
        self.settle_seconds = settle_seconds
        self.clock = clock
        self._seen: dict[Path, _Seen] = {}

    def scan_once(self) -> list[Outcome]:
        """File every file that has settled; return what happened to each."""
        outcomes = []
        present = set()
        for path in self._candidates():
            present.add(path)
            if self._settled(path):
                outcomes.append(self._take(path))
                self._seen.pop(path, None)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return outcomes

    def run(self, stop: threading.Event, interval: float = 2.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        while not stop.is_set():
            try:
                self.scan_once()
            except Exception:  # noqa: BLE001 - a full disk or a vanished share is waited out
                log.exception("hot folder scan of %s failed; trying again", self.root)
            stop.wait(interval)

    def _candidates(self):
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root)
            if relative.parts[0] in (DONE, REJECTED) or not path.is_file():
                continue
            if path.name.startswith(".") or path.name.lower().endswith(PARTIAL_SUFFIXES):
                continue
            yield path

    def _settled(self, path: Path) -> bool:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        now = self.clock()
        seen = self._seen.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            self._seen[path] = _Seen(stat.st_size, stat.st_mtime_ns, now)
            return False
        return now - seen.since >= self.settle_seconds

    def _take(self, path: Path) -> Outcome:
        relative = path.relative_to(self.root)
        if len(relative.parts) == 1:
            outcome = batch_from_disk(self.ext, PRINCIPAL, path)
        elif len(relative.parts) != 3:
            outcome = Outcome(
                path,
                "rejected",
                reason=(
                    "Put scans in a folder named <MRN>/<document type>/ inside the hot folder, "
                    f"e.g. MRN-1001/discharge_summary/{path.name}, or a whole stack with "
                    "cover sheets at the top of the hot folder."
                ),
            )
        else:
            mrn, doc_type, _name = relative.parts
            outcome = file_from_disk(self.ext, PRINCIPAL, path, mrn=mrn, doc_type=doc_type)
        self._move(path, relative, outcome)
        log.info("hot folder: %s %s %s", outcome.status, relative, outcome.reason)
        return outcome

    def _move(self, path: Path, relative: Path, outcome: Outcome) -> None:
        target = self.root / (REJECTED if outcome.status == "rejected" else DONE) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # the same name scanned again: keep both
            target = target.with_name(f"{target.stem}-{time.time_ns()}{target.suffix}")
        os.replace(path, target)
        if outcome.status == "rejected":
            target.with_name(target.name + ".reason.txt").write_text(outcome.reason + "\n")
