"""A release packet of 300 scanned pages with 10 redacted: assembly time and peak memory.

    python -m bench.packet [--pages 300] [--redacted 10] [--dir DIR]

Untimed setup: ten documents of scanned pages (a JPEG each, 200 dpi letter, as scanners
write them), ``--pages`` in all, and ``--redacted`` pages each with one box.

Measured, each in a fresh process (its peak resident memory, with its children's, from
getrusage): the packet assembled by ``release.packet_pdf.assemble``; and two references on
the same files: copying the same pages with pikepdf into one PDF (the floor for "pages copied
as stored"), and rendering, burning and re-encoding the redacted pages alone
(``release.redaction.redacted_page``). The packet is also assembled from a tenth of the
pages, to see memory stay flat. Targets: assembly ≤ 1.5 × (copy + render); peak under
300 MB and at most 1.2 × the peak for a tenth. Exit status 1 on FAIL.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import img2pdf
import pikepdf
from PIL import Image, ImageDraw

DOCUMENTS = 10
DPI = 200
BOX = [0.1, 0.2, 0.6, 0.25]


def scanned_page(rng: random.Random) -> bytes:
    """A letter page of grey "text" lines, as a JPEG of a scanner's quality."""
    image = Image.new("L", (int(8.5 * DPI), 11 * DPI), 235)
    draw = ImageDraw.Draw(image)
    for top in range(200, 2000, 40):
        left = 150
        while left < 1500:
            width = rng.randint(30, 160)
            draw.rectangle((left, top, left + width, top + 18), fill=rng.randint(20, 80))
            left += width + rng.randint(12, 24)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=75, dpi=(DPI, DPI))
    return out.getvalue()


def make_documents(pages: int, workdir: Path) -> list[Path]:
    rng = random.Random(18)
    faces = [scanned_page(rng) for _ in range(12)]
    layout = img2pdf.get_fixed_dpi_layout_fun((DPI, DPI))
    paths = []
    for number in range(DOCUMENTS):
        count = pages // DOCUMENTS + (1 if number < pages % DOCUMENTS else 0)
        path = workdir / f"document-{number}.pdf"
        path.write_bytes(img2pdf.convert([faces[(number + i) % len(faces)]
                                          for i in range(count)], layout_fun=layout))
        paths.append(path)
    return paths


def redactions(paths: list[Path], redacted: int) -> dict[int, dict[int, list[list[float]]]]:
    """Page 1, then 2, ... of each document in turn, one box each."""
    chosen: dict[int, dict[int, list[list[float]]]] = {}
    for n in range(redacted):
        chosen.setdefault(n % len(paths), {})[n // len(paths) + 1] = [BOX]
    return chosen


# --- the measured work, each run in a child process -----------------------------------------


def run_assemble(paths: list[Path], chosen, workdir: Path) -> None:
    from release.packet_pdf import Letter, Part, assemble
    from release.redaction import Box

    parts = [Part(path, f"Document {i}", {page: [Box(*b) for b in boxes]
                                          for page, boxes in chosen.get(i, {}).items()})
             for i, path in enumerate(paths)]
    assemble(parts, Letter(1, "Bench Requester", "1 Main St", date.today()),
             workdir / "packet.pdf", workdir)


def run_copy(paths: list[Path], chosen, workdir: Path) -> None:
    with pikepdf.new() as out:
        originals = [pikepdf.open(path) for path in paths]
        for original in originals:
            out.pages.extend(original.pages)
        out.save(workdir / "copy.pdf")
        for original in originals:
            original.close()


def run_render(paths: list[Path], chosen, workdir: Path) -> None:
    from release.redaction import Box, redacted_page

    for index, pages in chosen.items():
        for page, boxes in pages.items():
            redacted_page(paths[index], page, [Box(*b) for b in boxes], workdir)


WORK = {"assemble": run_assemble, "copy": run_copy, "render": run_render}


def child(kind: str, documents: Path, redacted: int) -> None:
    paths = sorted(documents.glob("document-*.pdf"), key=lambda p: int(p.stem.split("-")[1]))
    with tempfile.TemporaryDirectory(dir=documents) as work:
        began = time.perf_counter()
        WORK[kind](paths, redactions(paths, redacted), Path(work))
        seconds = time.perf_counter() - began
    peak_kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kib / 1024}))


def measure(kind: str, documents: Path, redacted: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.packet", "--child", kind,
                           "--documents", str(documents), "--redacted", str(redacted)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--redacted", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--child", choices=sorted(WORK))
    parser.add_argument("--documents", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.documents, args.redacted)
        return 0
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-packet-") as work:
        big, small = Path(work) / "big", Path(work) / "small"
        big.mkdir(), small.mkdir()
        make_documents(args.pages, big)
        make_documents(max(DOCUMENTS, args.pages // 10), small)
        runs = {kind: measure(kind, big, args.redacted) for kind in ("copy", "render",
                                                                       "assemble")}
        tenth = measure("assemble", small, min(args.redacted, DOCUMENTS))
    for kind, run in runs.items():
        print(f"{kind:>9}: {run['seconds']:6.2f} s, peak {run['peak_mb']:6.1f} MB")
    print(f"   a tenth: {tenth['seconds']:6.2f} s, peak {tenth['peak_mb']:6.1f} MB (assembly)")
    reference = runs["copy"]["seconds"] + runs["render"]["seconds"]
    ratio = runs["assemble"]["seconds"] / reference
    peak, flat = runs["assemble"]["peak_mb"], runs["assemble"]["peak_mb"] / tenth["peak_mb"]
    verdicts = [("assembly against copy + render", f"{ratio:.2f}× (target ≤ 1.5×)", ratio <= 1.5),
                ("peak memory", f"{peak:.0f} MB (target < 300 MB)", peak < 300),
                ("peak against a tenth", f"{flat:.2f}× (target ≤ 1.2×)", flat <= 1.2)]
    for label, value, ok in verdicts:
        print(f"{label}: {value} {'PASS' if ok else 'FAIL'}")
    return 0 if all(ok for *_, ok in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
