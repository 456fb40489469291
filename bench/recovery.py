"""Restore time and memory: ``chartvault restore`` of a replica beside plain copying of the
same bytes.

    python -m bench.recovery [--documents 10000] [--corpus CSV] [--work DIR] [--rebuild]
                             [--repeat 3] [--seed 1] [--skip-memory] [--profile]

The archive (untimed, built once and cached in ``--work``): the embedded default, SQLite, a
FilesystemStore primary and a FilesystemStore replica. ``--documents`` scans are filed one by
one through ``archive.records.filing.add_document``, the product's own filing function
(intake validation, the duplicate check, the store's put, the rows, the audit event and the
queued OCR job, each filing in its own transactions), for one patient per eight documents,
each registered through ``register_patient``. No OCR worker runs, so the archive holds the
originals only: no page text, no derivatives. Each scan is what a document scanner makes of a
typed report, a bitonal 200 dpi page in CCITT G4 (about 35 kB a page), typeset from the
reports of an mtsamples-style CSV (``--corpus``, its ``transcription`` column) with a line
naming the document on each page, so no two are alike; without a corpus, from a dozen
clinical sentences. Then ``chartvault backup run`` (replication of every object, a database
snapshot, an audit anchor), invoked in this process until every original has its verified
copy in the replica, so that the replica alone is a complete backup. The same is built at a
quarter of the size for the memory comparison.

Timed, ``--repeat`` rounds, the order flipping from one round to the next; before each, the
cached replica is copied afresh (untimed), so every restore reads the same replica, which a
restore writes into (the mark where its audit chain forks, a snapshot of the restored
database, an audit anchor):

* the restore: ``chartvault restore --from REPLICA --yes`` into an empty data directory, in a
  child process (``archive.cli.cli``, the console script's function, with this checkout's
  code), configured by ``CHARTVAULT_*`` variables the way an operator runs it after a
  disaster (the same audit key, ``CHARTVAULT_REPLICA_DIR`` naming the replica). It loads the
  snapshot, applies the migrations and the destruction log, copies every object back with
  its SHA-256 checked, rebuilds the search index and ends with the full verify (both copies
  of every object, the audit chain). Each phase is timed from the progress lines it prints.
  Afterwards the restored database must hold every document;
* the reference: ``shutil.copyfile`` of every object file the restore copies (the replica's
  version files: the same count and bytes) into a fresh directory, with an ``os.fsync`` of
  each copy and of each directory made. Both read the replica from the page cache (it was
  just copied), so the comparison is of the work done per object, not of the disk.

Target (issue 16): the whole restore, start of the command to its exit, moves the objects'
bytes at >= 50 % of the plain copy's rate: restore MiB/s / copy MiB/s, judged on the median
of the rounds' ratios. The copy phase alone is printed beside it. Memory: the same command at
a quarter of the documents and at all of them, once each with ``tracemalloc`` tracing the
child (its peak: Python's allocations, not Tantivy's or SQLite's) and the child's peak RSS;
flat means the peak at the full size <= 1.5 x the peak at a quarter, for both. Prints PASS or
FAIL and exits 1 on FAIL. ``--profile`` runs one more restore under cProfile and prints where
its time went. The CPU other processes used is printed: the machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

# Only what the restore's child process needs is imported here: it imports this module, and
# its memory is what is measured. The scanner, the app and the bench helpers are imported
# where they are used.

MIB = 1024 * 1024
TARGET = 0.50
FLAT = 1.5  # peak at the full size / peak at a quarter
DOCUMENTS_PER_PATIENT = 8
BUILD_FORMAT = 2  # how the cached archive is built; one built otherwise is built again
ROOT = Path(__file__).resolve().parents[1]
HOSPITAL = "MERCY GENERAL HOSPITAL"
DPI = 200
PAGE = (17 * DPI // 2, 11 * DPI)  # letter
MARGIN = DPI  # one inch
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
DOC_TYPES = ("discharge_summary", "operative_report", "clinic_note", "lab_report",
             "radiology_report", "consultation")  # fmt: skip
SURNAMES = ("HOLLOWAY", "NGUYEN", "GARCIA", "OKAFOR", "LINDQVIST", "MORRIS", "PATEL",
            "KOWALSKI", "BAKER", "SANTOS", "MURPHY", "ABERNATHY")  # fmt: skip
GIVEN = ("MARGARET", "JOHN", "ROSA", "CHIDI", "ERIK", "ALICE", "PRIYA", "TOMASZ", "LEE",
         "ANA", "SEAN", "RUTH")  # fmt: skip
PHASES = {  # the restore's progress lines, by how they begin
    "Loading the": "load the snapshot",
    "Applying migrations": "migrations",
    "Applying the destruction log": "destruction log",
    "Copying the stored objects": "copy objects",
    "Rebuilding the search index": "reindex",
    "Verifying every object": "verify objects",
    "Starting the journal": "start the journal (a snapshot)",
    "Verifying the audit chain": "verify audit chain",
}
START_UP = "start-up (Python, app, target check)"
COPY_PHASE = "copy objects"
EXIT = "exit (after the last line printed)"


# --- the scans --------------------------------------------------------------------------------


def corpus_reports(corpus: Path | None, seed: int) -> list[tuple[str, str]]:
    """(heading, paragraphs as one text with newlines) of every report to typeset."""
    from bench.ocr import read_reports, report_paragraphs
    from bench.replication import SENTENCES

    if corpus is not None:
        return [(f"{specialty} - {title}".upper(), "\n".join(report_paragraphs(text)))
                for specialty, title, text in read_reports(corpus)]  # fmt: skip
    rng = random.Random(seed)
    reports = []
    for number in range(200):
        paragraphs = [" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(2, 6)))
                      for _ in range(rng.randint(2, 12))]  # fmt: skip
        reports.append((f"CLINIC NOTE {number + 1}", "\n".join(paragraphs)))
    return reports


class Scanner:
    """Typesets a report on bitonal letter pages, as a document scanner's black-and-white
    mode delivers them, and writes them as a PDF of CCITT G4 images. The pages of each report
    are typeset once (kept packed, a bit a pixel: Pillow holds a bitonal image at a byte a
    pixel); each document adds its own line to copies of them."""

    def __init__(self, reports: list[tuple[str, str]]):
        from PIL import ImageFont

        self.reports = reports
        self.body = ImageFont.truetype(str(FONT_DIR / "DejaVuSerif.ttf"), round(11 * DPI / 72))
        self.heading = ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"),
                                          round(11 * DPI / 72))  # fmt: skip
        self.header = ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), round(8 * DPI / 72))
        self.leading = round(11 * DPI / 72 * 1.45)
        self.typeset: dict[int, list[bytes]] = {}

    def pages(self, number: int) -> list:
        from PIL import Image

        if number not in self.typeset:
            self.typeset[number] = [page.tobytes() for page in
                                    self._typeset(*self.reports[number])]  # fmt: skip
        return [Image.frombytes("1", PAGE, packed) for packed in self.typeset[number]]

    def _typeset(self, heading: str, text: str) -> list:
        from PIL import Image, ImageDraw

        from bench.ocr import _wrap

        lines = [heading, ""]
        for paragraph in text.split("\n"):
            lines += [*_wrap(paragraph, self.body, PAGE[0] - 2 * MARGIN), ""]
        per_page = (PAGE[1] - 2 * MARGIN) // self.leading - 2  # two lines for the header
        pages = []
        for first in range(0, len(lines), per_page):
            image = Image.new("1", PAGE, 1)
            draw = ImageDraw.Draw(image)
            for row, line in enumerate(lines[first : first + per_page], start=2):
                font = self.heading if first == 0 and row == 2 else self.body
                draw.text((MARGIN, MARGIN + row * self.leading), line, font=font, fill=0)
            pages.append(image)
        return pages

    def scan(self, job: tuple[int, int, str, str]) -> bytes:
        """The PDF of document ``number``: report ``report``, for patient ``mrn``."""
        from PIL import ImageDraw

        report, number, mrn, name = job
        pages = self.pages(report)
        for page_number, page in enumerate(pages, start=1):
            ImageDraw.Draw(page).text(
                (MARGIN, MARGIN), f"{HOSPITAL}   MRN {mrn}   {name}   document {number}   page "
                f"{page_number} of {len(pages)}", font=self.header, fill=0)  # fmt: skip
        out = io.BytesIO()
        pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=DPI)
        return out.getvalue()


_scanner: Scanner | None = None


def _start_scanner(reports: list[tuple[str, str]]) -> None:
    global _scanner
    _scanner = Scanner(reports)


def _scan(job: tuple[int, int, str, str]) -> bytes:
    return _scanner.scan(job)


# --- the archive ------------------------------------------------------------------------------


@dataclass
class Manifest:
    """What was built, and what the restore has to bring back."""

    documents: int
    patients: int
    source: str
    seed: int
    audit_key: str
    secret_key: str
    objects: list[tuple[str, int]]  # replica version files, relative to the replica, and sizes
    built_at: str
    build_seconds: float
    filing_ms_p50: float
    commit: str
    format: int = BUILD_FORMAT

    @property
    def bytes(self) -> int:
        return sum(size for _path, size in self.objects)


def describe_source(corpus: Path | None) -> str:
    if corpus is None:
        return "synthetic"
    digest = hashlib.sha256(corpus.read_bytes()).hexdigest()[:12]
    return f"{corpus.name}-{digest}"


def cached_archive(work: Path, documents: int, corpus: Path | None, seed: int,
                   rebuild: bool = False) -> Path:  # fmt: skip
    """The directory of the archive of ``documents`` documents, built first if needed (or
    if ``rebuild``: a replica made by older code than the restore's is a fair test too, but
    not of a backup the current code makes)."""
    source = describe_source(corpus)
    home = work / f"archive-{documents}-{source}-seed{seed}"
    manifest = home / "manifest.json"
    if (not rebuild and manifest.exists()
            and json.loads(manifest.read_text()).get("format") == BUILD_FORMAT):  # fmt: skip
        return home
    building = home.with_name(home.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    building.mkdir(parents=True)
    build(building, documents, corpus, source, seed)
    building.rename(home)
    return home


def read_manifest(home: Path) -> Manifest:
    data = json.loads((home / "manifest.json").read_text())
    data["objects"] = [tuple(item) for item in data["objects"]]
    return Manifest(**data)


def build(home: Path, documents: int, corpus: Path | None, source: str, seed: int) -> None:
    import secrets
    from concurrent.futures import ProcessPoolExecutor

    from archive import migrate
    from archive.app import create_app
    from archive.auth.permissions import Principal
    from archive.config import Settings
    from archive.interfaces import Upload
    from archive.models import utcnow
    from archive.records.filing import add_document
    from archive.records.patients import register_patient

    started = time.perf_counter()
    audit_key, secret_key = secrets.token_hex(32), secrets.token_hex(32)
    settings = Settings(data_dir=home / "data",
                        database_url=f"sqlite:///{home / 'data' / 'chartvault.db'}",
                        replica_storage="filesystem", replica_dir=home / "replica",
                        secret_key=secret_key, audit_key=audit_key)  # fmt: skip
    settings.data_dir.mkdir()
    app = create_app(settings)
    ext = app.extensions["chartvault"]
    migrate.upgrade(ext.db.engine)
    rng = random.Random(seed)
    system = Principal("bench", "system", source="bench")
    clerk = Principal("bench-clerk", "clerk", source="bench")
    patients = max(1, documents // DOCUMENTS_PER_PATIENT)
    people = []
    for number in range(patients):
        mrn, name = f"{10_000_000 + number:08d}", f"{rng.choice(SURNAMES)}, {rng.choice(GIVEN)}"
        with ext.db.transaction() as session:
            register_patient(session, system, mrn=mrn, name=name,
                             dob=date(1930, 1, 1) + timedelta(days=rng.randrange(30_000)))
        people.append((mrn, name))
    reports = corpus_reports(corpus, seed)
    jobs = [(rng.randrange(len(reports)), number, *rng.choice(people))
            for number in range(1, documents + 1)]  # fmt: skip
    print(f"building {home.name}: {documents:,} documents of {patients:,} patients from "
          f"{len(reports)} reports ({source})", flush=True)
    filing: list[float] = []
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, initializer=_start_scanner,
                             initargs=(reports,)) as pool:  # fmt: skip
        for (_report, number, mrn, _name), pdf in zip(
                jobs, pool.map(_scan, jobs, chunksize=16), strict=True):  # fmt: skip
            begin = time.perf_counter()
            filed = add_document(ext, clerk, mrn=mrn, doc_type=rng.choice(DOC_TYPES),
                                 upload=Upload(io.BytesIO(pdf), f"scan-{number:06d}.pdf"),
                                 date_of_service=date(2010, 1, 1)
                                 + timedelta(days=rng.randrange(6000)))  # fmt: skip
            filing.append(time.perf_counter() - begin)
            if filed.duplicate:
                raise SystemExit(f"document {number} was filed as a duplicate")
            if number % 1000 == 0:
                print(f"  {number:,} filed, {time.perf_counter() - started:.0f} s", flush=True)
    filed_at = time.perf_counter()
    runs, objects = back_up(app)
    ext.db.dispose()
    manifest = Manifest(
        documents=documents, patients=patients, source=source, seed=seed,
        audit_key=audit_key, secret_key=secret_key, objects=objects,
        built_at=utcnow().isoformat(timespec="seconds"),
        build_seconds=round(time.perf_counter() - started, 1),
        filing_ms_p50=round(statistics.median(filing) * 1000, 1), commit=git_commit())  # fmt: skip
    (home / "manifest.json").write_text(json.dumps(asdict(manifest)))
    print(f"  filed in {filed_at - started:.0f} s (add_document p50 "
          f"{manifest.filing_ms_p50:.1f} ms); {len(objects):,} objects "
          f"({manifest.bytes / MIB:,.0f} MiB) backed up by {runs} `chartvault backup run` in "
          f"{time.perf_counter() - filed_at:.0f} s", flush=True)  # fmt: skip


def back_up(app) -> tuple[int, list[tuple[str, int]]]:
    """``chartvault backup run`` (replicate, snapshot, anchor: the command, so this bench does
    not depend on which package holds them), as often as it takes for every original to have
    its copy in the replica (one run copies for a few minutes at most). The number of runs,
    and the replica's file of every original with its size."""
    from sqlalchemy import select

    from archive.models import DocumentVersion
    from archive.storage.filesystem import VERSIONS_DIR
    from archive.storage.rules import split_key

    ext = app.extensions["chartvault"]
    runner = app.test_cli_runner()
    for runs in range(1, 21):
        result = runner.invoke(args=["backup", "run"])
        if result.exit_code != 0:
            raise SystemExit(f"chartvault backup run failed:\n{result.output}")
        with ext.db.transaction() as session:
            originals = session.execute(select(DocumentVersion.object_key,
                                               DocumentVersion.sha256,
                                               DocumentVersion.size)).all()  # fmt: skip
        objects = []
        for key, sha256, size in sorted(originals):
            copy = next((info.version_id for info in ext.replica.list_versions(key)
                         if info.sha256 == sha256), None)  # fmt: skip
            if copy is None:
                break
            objects.append((str(Path(*split_key(key), VERSIONS_DIR, copy)), size))
        else:
            return runs, objects
    raise SystemExit("20 runs of `chartvault backup run` left originals without a replica copy")


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                            capture_output=True, check=False)  # fmt: skip
    return result.stdout.strip() or "unknown"


# --- the restore, in a child process ----------------------------------------------------------


def restore_child(argv: list[str]) -> int:
    """The child: ``chartvault restore --from REPLICA --yes`` exactly as the console script
    runs it, optionally traced or profiled; its report (exit status, tracemalloc peak, peak
    RSS) is written as JSON to REPORT. Arguments: REPLICA REPORT [trace|profile=PATH]."""
    replica, report, *how = argv
    from archive.cli import cli

    profiler = None
    if "trace" in how:
        import tracemalloc

        tracemalloc.start()
    for option in how:
        if option.startswith("profile="):
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
    try:
        cli.main(["restore", "--from", replica, "--yes"], prog_name="chartvault")
        status = 0
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else int(done.code is not None)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(next(o for o in how if o.startswith("profile="))[len("profile="):])
    peak = None
    if "trace" in how:
        import tracemalloc

        peak = tracemalloc.get_traced_memory()[1]
    Path(report).write_text(json.dumps({"status": status, "peak": peak, "maxrss": peak_rss()}))
    return status


def peak_rss() -> int:
    """This process's peak resident set, in bytes: VmHWM, which starts afresh at exec.
    Not ``getrusage``'s ru_maxrss: Linux carries that over from the process that forked
    and exec'd us, so it would report the bench's own RSS whenever that is larger."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Restore:
    wall: float  # the command, start to exit
    phases: list[tuple[str, float]]  # (phase, seconds), in order
    status: int
    peak: int | None
    maxrss: int
    others: float
    documents: int  # in the restored database

    def phase(self, name: str) -> float:
        return sum(seconds for label, seconds in self.phases if label == name)


def phase_of(line: str) -> str | None:
    if not line.endswith("…"):
        return None
    for start, name in PHASES.items():
        if line.startswith(start):
            return name
    return line.rstrip("…")[:40]  # a phase this bench does not know yet


def run_restore(manifest: Manifest, replica: Path, target: Path, how: list[str],
                log: Path) -> Restore:  # fmt: skip
    from bench.ocr import OtherLoad

    env = {name: value for name, value in os.environ.items()
           if not name.startswith("CHARTVAULT_")}  # fmt: skip
    env.update(CHARTVAULT_DATA_DIR=str(target / "data"), CHARTVAULT_REPLICA_DIR=str(replica),
               CHARTVAULT_AUDIT_KEY=manifest.audit_key,
               CHARTVAULT_SECRET_KEY=manifest.secret_key, PYTHONUNBUFFERED="1")  # fmt: skip
    report = target / "child.json"
    command = [sys.executable, "-c", "import sys; from bench.recovery import restore_child; "
               "sys.exit(restore_child(sys.argv[1:]))", str(replica), str(report), *how]
    marks: list[tuple[str, float]] = [(START_UP, 0.0)]
    last = 0.0
    with OtherLoad() as others, log.open("a") as out:
        out.write(f"--- {manifest.documents:,} documents, {' '.join(how) or 'timed'}\n")
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)  # fmt: skip
        for line in child.stdout:  # text mode: reindex's "\r" progress ends a line too
            last = time.perf_counter() - started
            out.write(f"{last:9.3f} {line.rstrip()}\n")
            name = phase_of(line.strip())
            if name is not None:
                marks.append((name, last))
        child.wait()
        wall = time.perf_counter() - started
    # The last phase ends with the report's last line; then the process exits.
    marks.append((EXIT, last))
    ends = [at for _name, at in marks[1:]] + [wall]
    phases = [(name, end - at) for (name, at), end in zip(marks, ends, strict=True)]
    result = json.loads(report.read_text()) if report.exists() else {}
    return Restore(wall, phases, result.get("status", child.returncode), result.get("peak"),
                   result.get("maxrss", 0), others.cores,
                   restored_documents(target))  # fmt: skip


def restored_documents(target: Path) -> int:
    database = target / "data" / "chartvault.db"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM documents").fetchone()[0]


# --- the reference ----------------------------------------------------------------------------


@dataclass
class Copy:
    bytes: int
    wall: float
    others: float


def plain_copy(replica: Path, objects: list[tuple[str, int]], out: Path) -> Copy:
    """``shutil.copyfile`` of every object file into ``out`` (256 directories, as a store
    spreads its keys), ``os.fsync`` of each copy and then of each directory."""
    from bench.ocr import OtherLoad

    with OtherLoad() as others:
        started = time.perf_counter()
        out.mkdir()
        directories: list[Path] = []
        total = 0
        for number, (relative, _size) in enumerate(objects):
            if number < 256:
                directories.append(out / f"{number:02x}")
                directories[-1].mkdir()
            copy = directories[number % 256] / f"{number:07d}"
            shutil.copyfile(replica / relative, copy)
            descriptor = os.open(copy, os.O_RDONLY)
            try:
                os.fsync(descriptor)
                total += os.fstat(descriptor).st_size
            finally:
                os.close(descriptor)
        for directory in [out, *directories]:
            descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        wall = time.perf_counter() - started
    return Copy(total, wall, others.cores)


# --- the rounds -------------------------------------------------------------------------------


@dataclass
class Round:
    restore: Restore
    copy: Copy
    objects: int
    bytes: int

    @property
    def restore_rate(self) -> float:
        return self.bytes / MIB / self.restore.wall

    @property
    def copy_phase_rate(self) -> float:
        return self.bytes / MIB / self.restore.phase(COPY_PHASE)

    @property
    def plain_rate(self) -> float:
        return self.copy.bytes / MIB / self.copy.wall

    @property
    def ratio(self) -> float:
        return self.restore_rate / self.plain_rate


@dataclass
class Scratch:
    """A fresh copy of the cached replica and an empty target, removed afterwards."""

    home: Path
    manifest: Manifest
    root: Path = field(init=False)

    def __enter__(self) -> Scratch:
        self.root = Path(tempfile.mkdtemp(prefix="run-", dir=self.home.parent))
        shutil.copytree(self.home / "replica", self.replica, symlinks=True)
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def replica(self) -> Path:
        return self.root / "replica"

    @property
    def target(self) -> Path:
        return self.root / "target"


def restore_once(home: Path, manifest: Manifest, how: list[str], log: Path) -> Restore:
    with Scratch(home, manifest) as scratch:
        scratch.target.mkdir()
        restore = run_restore(manifest, scratch.replica, scratch.target, how, log)
    check_restore(restore, manifest, log)
    return restore


def check_restore(restore: Restore, manifest: Manifest, log: Path) -> None:
    if restore.status != 0 or restore.documents != manifest.documents:
        raise SystemExit(f"the restore failed (exit status {restore.status}, "
                         f"{restore.documents:,} of {manifest.documents:,} documents "
                         f"restored); its output is in {log}")  # fmt: skip


def one_round(number: int, home: Path, manifest: Manifest, log: Path) -> Round:
    with Scratch(home, manifest) as scratch:
        scratch.target.mkdir()
        copy = restore = None
        for step in (("copy", "restore") if number % 2 else ("restore", "copy")):
            if step == "copy":
                copy = plain_copy(scratch.replica, manifest.objects, scratch.root / "copy")
            else:
                restore = run_restore(manifest, scratch.replica, scratch.target, [], log)
    check_restore(restore, manifest, log)
    if copy.bytes != manifest.bytes:
        raise SystemExit(f"the plain copy wrote {copy.bytes:,} bytes, not {manifest.bytes:,}")
    return Round(restore, copy, len(manifest.objects), manifest.bytes)


# --- printing ---------------------------------------------------------------------------------


def describe_machine(work: Path) -> str:
    from bench.ocr import load

    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())  # fmt: skip
    sha_ni = "sha_ni" in Path("/proc/cpuinfo").read_text()
    device = subprocess.run(["df", "--output=source,fstype", str(work)], text=True,
                            capture_output=True, check=False).stdout.split()[2:]  # fmt: skip
    return (f"machine: {os.cpu_count()} cores, {model} ({'with' if sha_ni else 'without'} "
            f"SHA-NI), Python {platform.python_version()}; load average {load()}; work "
            f"{work} on {' '.join(device)}")


def round_line(number: int, result: Round) -> str:
    from bench.ocr import others_note

    restore, copy = result.restore, result.copy
    return (f"round {number}: restore {restore.wall:6.1f} s = {result.objects / restore.wall:6.0f}"
            f" objects/s, {result.restore_rate:6.2f} MiB/s (copy phase "
            f"{restore.phase(COPY_PHASE):5.1f} s = {result.copy_phase_rate:6.2f} MiB/s; peak RSS "
            f"{restore.maxrss / MIB:.0f} MiB; {others_note(restore.others)})\n"
            f"         plain copy {copy.wall:6.1f} s = {result.objects / copy.wall:6.0f} "
            f"objects/s, "
            f"{result.plain_rate:6.2f} MiB/s ({others_note(copy.others)}); "
            f"restore / copy {result.ratio:.1%}")  # fmt: skip


def print_phases(rounds: list[Round]) -> None:
    names = list(dict.fromkeys(name for r in rounds for name, _seconds in r.restore.phases))
    objects, data = rounds[0].objects, rounds[0].bytes / MIB
    print(f"\n{'restore phase (median of the rounds)':<40}{'seconds':>9}{'share':>8}"
          f"{'objects/s':>11}{'MiB/s':>9}")
    whole = statistics.median(r.restore.wall for r in rounds)
    for name in names:
        seconds = statistics.median(r.restore.phase(name) for r in rounds)
        per_object = name in (COPY_PHASE, "verify objects")
        print(f"{name:<40}{seconds:>9.2f}{seconds / whole:>8.0%}"
              + (f"{objects / seconds:>11.0f}{data / seconds:>9.2f}" if per_object and seconds
                 else ""))  # fmt: skip
    before = statistics.median(time_to_copy(r.restore) for r in rounds)
    print(f"{'whole restore':<40}{whole:>9.2f}{1:>8.0%}{objects / whole:>11.0f}"
          f"{data / whole:>9.2f}")
    print(f"(time to the copy phase: {before:.2f} s; the verify reads both copies of every "
          "object, so it reads twice the bytes shown)")


def time_to_copy(restore: Restore) -> float:
    seconds = 0.0
    for name, spent in restore.phases:
        if name == COPY_PHASE:
            break
        seconds += spent
    return seconds


def judge_rate(rounds: list[Round]) -> bool:
    ratio = statistics.median(r.ratio for r in rounds)
    phase_ratio = statistics.median(r.copy_phase_rate / r.plain_rate for r in rounds)
    restore = statistics.median(r.restore_rate for r in rounds)
    phase = statistics.median(r.copy_phase_rate for r in rounds)
    plain = statistics.median(r.plain_rate for r in rounds)
    objects = rounds[0].objects
    ok = ratio >= TARGET
    from bench.ocr import verdict

    print(f"\n{'median of ' + str(len(rounds)) + ' rounds':<34}{'restore':>16}{'plain copy':>16}"
          f"{'ratio':>8}{'target':>9}   result")
    print(f"{'whole restore, MiB/s':<34}{restore:>16.2f}{plain:>16.2f}{ratio:>8.1%}"
          f"{'>= ' + format(TARGET, '.0%'):>9}   {verdict(ok)}")
    print(f"{'  objects/s':<34}{statistics.median(objects / r.restore.wall for r in rounds):>16.0f}"
          f"{statistics.median(objects / r.copy.wall for r in rounds):>16.0f}")
    print(f"{'copy phase alone, MiB/s':<34}{phase:>16.2f}{plain:>16.2f}{phase_ratio:>8.1%}"
          f"{'-':>9}   -")
    return ok


def judge_memory(small: Manifest, small_run: Restore, large: Manifest, large_run: Restore) -> bool:
    from bench.ocr import others_note, verdict

    print(f"\n{'restore memory (traced runs)':<30}{'documents':>10}{'MiB':>8}{'seconds':>9}"
          f"{'copy objects/s':>16}{'tracemalloc peak':>18}{'peak RSS':>10}")
    for manifest, run in ((small, small_run), (large, large_run)):
        copy = run.phase(COPY_PHASE)
        print(f"{'':<30}{manifest.documents:>10,}{manifest.bytes / MIB:>8.0f}{run.wall:>9.1f}"
              f"{len(manifest.objects) / copy if copy else 0:>16.0f}{run.peak / MIB:>14.1f} MiB"
              f"{run.maxrss / MIB:>6.0f} MiB   {others_note(run.others)}")  # fmt: skip
    print("(tracemalloc slows every allocation: these times compare with each other only)")
    peak = large_run.peak / small_run.peak
    rss = large_run.maxrss / small_run.maxrss
    ok = peak <= FLAT and rss <= FLAT
    print(f"growth from {small.documents:,} to {large.documents:,} documents: tracemalloc peak "
          f"x{peak:.2f}, peak RSS x{rss:.2f} (target <= x{FLAT}): {verdict(ok)}")
    return ok


def print_profile(path: Path) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    print(f"\nprofile of one restore (cProfile, {path}); by cumulative time:")
    stats.sort_stats("cumulative").print_stats(35)
    print("by own time:")
    stats.sort_stats("tottime").print_stats(20)


# --- main -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> bool:
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(describe_machine(work))
    home = cached_archive(work, args.documents, args.corpus, args.seed, args.rebuild)
    manifest = read_manifest(home)
    log = work / "restore-output.log"
    log.write_text("")
    print(f"archive: {manifest.documents:,} documents of {manifest.patients:,} patients "
          f"({manifest.source}), {len(manifest.objects):,} objects, {manifest.bytes / MIB:,.1f} "
          f"MiB (mean {manifest.bytes / len(manifest.objects) / 1000:.1f} kB); built "
          f"{manifest.built_at} at {manifest.commit} in {manifest.build_seconds:.0f} s; "
          f"{home}\nthe restore's output: {log}\n")  # fmt: skip
    rounds = []
    for number in range(1, args.repeat + 1):
        rounds.append(one_round(number, home, manifest, log))
        print(round_line(number, rounds[-1]), flush=True)
    print_phases(rounds)
    ok = judge_rate(rounds)
    if not args.skip_memory:
        small_home = cached_archive(work, max(1, args.documents // 4), args.corpus, args.seed,
                                    args.rebuild)
        small = read_manifest(small_home)
        small_run = restore_once(small_home, small, ["trace"], log)
        large_run = restore_once(home, manifest, ["trace"], log)
        ok = judge_memory(small, small_run, manifest, large_run) and ok
    if args.profile:
        profile = work / "restore.prof"
        restore_once(home, manifest, [f"profile={profile}"], log)
        print_profile(profile)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--corpus", type=Path, default=None,
                        help="mtsamples-style CSV whose transcriptions are typeset as scans "
                             "(default: sentences of bench.replication)")  # fmt: skip
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "chartvault-bench-recovery",
                        help="where the built archives are kept between runs, and the "
                             "restores run (default: %(default)s)")  # fmt: skip
    parser.add_argument("--rebuild", action="store_true",
                        help="build the archives again, with this checkout's code")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median counts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-memory", action="store_true",
                        help="no traced restores at a quarter and at the full size")
    parser.add_argument("--profile", action="store_true",
                        help="one more restore under cProfile; print where its time goes")
    args = parser.parse_args(argv)
    if args.documents < 4 or args.repeat < 1:
        parser.error("--documents must be 4 or more and --repeat 1 or more")
    if args.corpus is not None and not args.corpus.is_file():
        parser.error(f"{args.corpus}: no such file")
    return 0 if run(args) else 1


if __name__ == "__main__":
    sys.exit(main())
