"""The skewed chart: straightening pages fed askew, measured. Built on bench.ocr's chart,
runs and reports (which knows nothing of this module).

    python -m bench.ocr_skew CORPUS.csv [--pages 24] [--repeat 3] [--workers W] [--no-ocrmypdf]

The same printed pages (every page printed, no blank backs) are scanned twice: once with
skews of 1-7 degrees either way (seeded), once straight. In one run it prints:

* ChartVault's word recall on the skewed chart, beside ``ocrmypdf --deskew
  --rotate-pages`` on the same file when ocrmypdf is installed (target: at least equal),
  and beside tesseract alone on the same skewed pages, which is how ChartVault read them
  before it straightened pages;
* ChartVault's throughput on the skewed chart against its throughput on the straight one
  (target >= 0.9 x): the straightening's whole cost, upload to ``ready``;
* the skew measured on each page against the truth, and the measurement's time against
  tesseract's time on the page (target: < 5 %).

Recall counts words of four letters or more, as the rest of the bench does."""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench import ocr
from ingest.ocr import skew

SKEWED_RECALL_TARGET = 1.0  # x ocrmypdf --deskew --rotate-pages
SKEWED_THROUGHPUT_TARGET = 0.9  # x the same pages straight
MEASURE_SHARE_TARGET = 0.05  # of tesseract's time on the page
OCRMYPDF_DESKEW_FLAGS = ["--output-type", "pdf", "--optimize", "0", "--deskew", "--rotate-pages"]


def skewed_chart(corpus: Path, pages: int, seed: int, out_pdf: Path, *, straight: bool):
    """`pages` printed pages, each turned 1-7 degrees (either way, seeded), or not at all."""
    rng = random.Random(seed + 7)
    specs = [
        dataclasses.replace(
            spec, skew=0.0 if straight else rng.choice((-1, 1)) * rng.uniform(1.0, 7.0)
        )
        for spec in ocr.plan_chart(corpus, pages, 0.0, seed)
    ]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        ocr.write_scanner_pdf(pool.map(ocr.scan_page, specs, chunksize=2), out_pdf)
    return ocr.Chart(out_pdf, specs)


def tesseract_alone(chart, workdir: Path) -> tuple[list[float], list[float], list[float]]:
    """Each page read by tesseract as it is (no straightening): recall and seconds, and
    the seconds skew.measure takes on the same page image."""
    recalls, seconds, measuring = [], [], []
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    for spec in chart.pages:
        image = ocr.page_image(spec, workdir / f"alone-{spec.number:04d}.pgm")
        started = time.perf_counter()
        skew.measure(image, ocr.DPI)
        measuring.append(time.perf_counter() - started)
        started = time.perf_counter()
        text = subprocess.run(
            ["tesseract", str(image), "-", "--dpi", str(ocr.DPI), "-l", "eng"],
            env=env, capture_output=True, check=True,
        ).stdout.decode("utf-8", errors="replace")
        seconds.append(time.perf_counter() - started)
        recalls.append(ocr.recall(chart.text(spec.number), text))
        image.unlink()
    return recalls, seconds, measuring


def measured_skews(chart, workdir: Path) -> list[tuple[float, float]]:
    pairs = []
    for spec in chart.pages:
        image = ocr.page_image(spec, workdir / f"skew-{spec.number:04d}.pgm")
        pairs.append((spec.skew, skew.measure(image, ocr.DPI)))
        image.unlink()
    return pairs


def run(args: argparse.Namespace, workdir: Path) -> bool:
    cores = os.cpu_count() or 1
    workers = args.workers or cores
    ocr.describe_machine(workers)
    skewed = skewed_chart(args.corpus, args.pages, args.seed, workdir / "skewed.pdf",
                          straight=False)
    straight = skewed_chart(args.corpus, args.pages, args.seed, workdir / "straight.pdf",
                            straight=True)
    print(f"skewed chart: {len(skewed.pages)} pages, skews "
          + ", ".join(f"{spec.skew:+.1f}" for spec in skewed.pages))
    warm_up = ocr.build_chart(args.corpus, 2, 0.0, args.seed + 2, workdir / "warm-up.pdf")
    ocr.run_chartvault(workdir / "warm-up", workers, warm_up)

    runs = {"skewed": [], "straight": []}
    for round_number in range(args.repeat):  # alternated, so drift in load hits both
        for name, chart in (("skewed", skewed), ("straight", straight)):
            runs[name].append(
                ocr.run_chartvault(workdir / f"{name}-{round_number}", workers, chart)
            )
    on_skewed, on_straight = ocr._median_run(runs["skewed"]), ocr._median_run(runs["straight"])
    ok = _report_throughput(on_skewed, on_straight, len(skewed.pages), runs)
    ok &= _report_recall(args, skewed, on_skewed, on_straight, workdir, cores)
    return ok


def _report_throughput(on_skewed, on_straight, pages: int, runs) -> bool:
    ratio = on_straight.seconds / on_skewed.seconds
    ok = ratio >= SKEWED_THROUGHPUT_TARGET
    print(
        f"ChartVault, skewed chart: {pages * 60 / on_skewed.seconds:.1f} pages/min "
        f"({ocr._seconds(runs['skewed'])}); same pages straight: "
        f"{pages * 60 / on_straight.seconds:.1f} pages/min ({ocr._seconds(runs['straight'])}); "
        f"ratio {ratio:.2f} (target >= {SKEWED_THROUGHPUT_TARGET}) {ocr.verdict(ok)}"
        f"; {ocr.others_note(max(on_skewed.others, on_straight.others))}"
    )
    return ok


def _report_recall(args, chart, on_skewed, on_straight, workdir: Path, cores: int) -> bool:
    print(f"ChartVault recall, skewed chart: {ocr.recall_summary(on_skewed.recalls)}; "
          f"same pages straight: {ocr.recall_summary(on_straight.recalls)}")
    alone, seconds, measuring = tesseract_alone(chart, workdir)
    print(f"tesseract alone on the skewed pages (ChartVault without straightening): "
          f"{ocr.recall_summary(alone)}")
    share = sum(measuring) / sum(seconds)
    measure_ok = share < MEASURE_SHARE_TARGET
    print(f"skew measurement: {statistics.mean(measuring) * 1000:.0f} ms a page against "
          f"{statistics.mean(seconds):.2f} s of tesseract: {share:.1%} "
          f"(target < {MEASURE_SHARE_TARGET:.0%}) {ocr.verdict(measure_ok)}")
    errors = [abs(truth - found) for truth, found in measured_skews(chart, workdir)]
    print(f"skew measured within {max(errors):.2f} degrees of the truth on every page "
          f"(mean error {statistics.mean(errors):.2f})")
    if args.no_ocrmypdf:
        print("ocrmypdf: left out (--no-ocrmypdf)")
        return measure_ok
    peer = ocr.run_ocrmypdf(chart, workdir, cores, OCRMYPDF_DESKEW_FLAGS)
    if peer is None:
        print("ocrmypdf: not installed, so no comparison with ocrmypdf --deskew --rotate-pages;"
              " the reference is tesseract alone above")
        return measure_ok
    ratio = statistics.mean(on_skewed.recalls) / statistics.mean(peer.recalls)
    recall_ok = ratio >= SKEWED_RECALL_TARGET
    print(f"ocrmypdf {' '.join(OCRMYPDF_DESKEW_FLAGS)}: {ocr.recall_summary(peer.recalls)}, "
          f"{peer.pages_per_minute(len(chart.pages)):.1f} pages/min; ChartVault's recall "
          f"{ratio:.3f} x (target >= {SKEWED_RECALL_TARGET}) {ocr.verdict(recall_ok)}")
    return measure_ok and recall_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="mtsamples-style CSV (transcription column)")
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--workers", type=int, default=0, help="OCR workers (default: cores)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed runs of each chart; the median counts")
    parser.add_argument("--no-ocrmypdf", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default /tmp)")
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        parser.error(f"{args.corpus} is not a file")
    with tempfile.TemporaryDirectory(prefix="chartvault-bench-", dir=args.dir) as tmp:
        ok = run(args, Path(tmp))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
