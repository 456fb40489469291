"""The one place that runs external programs: poppler (pdfinfo and pdftoppm through
pdf2image, pdftotext) and tesseract (through pytesseract).

Every call has a timeout, and every failure leaves here as an `OcrError` raised from its
cause, classified by exception type or exit status (never by the wording of stderr)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pdf2image
import pytesseract
from pdf2image.exceptions import (
    PDFInfoNotInstalledError,
    PDFPageCountError,
    PDFPopplerTimeoutError,
)
from pytesseract.pytesseract import run_tesseract

from ingest.ocr.errors import OcrError

LANGUAGE = "eng"

# Seconds. A dense 300-dpi page takes tesseract 2-3 s on one core; the margins are for
# pathological scans on a loaded machine, not for normal work.
PDFINFO_TIMEOUT = 60
RENDER_TIMEOUT = 120
PDFTOTEXT_TIMEOUT = 60
OSD_TIMEOUT = 60
RECOGNISE_TIMEOUT = 300

# poppler's documented exit codes (pdftotext(1)).
_POPPLER_EXIT_REASONS = {
    1: "the PDF could not be opened (it may be damaged)",
    2: "an output file could not be written (is the disk full?)",
    3: "the PDF's permissions do not allow it",
}


def _pin_tesseract_threads() -> None:
    # pytesseract hands tesseract this process's environment. With OpenMP left on, every
    # tesseract fights the others for the cores (about 8x slower on 2 cores); parallelism
    # comes from running one single-threaded tesseract per page instead.
    os.environ["OMP_THREAD_LIMIT"] = "1"


# --- poppler ---------------------------------------------------------------------------


def pdf_page_count(pdf: Path) -> int:
    try:
        info = pdf2image.pdfinfo_from_path(str(pdf), timeout=PDFINFO_TIMEOUT)
    except PDFInfoNotInstalledError as exc:  # pdf2image's name for "pdfinfo would not start"
        raise OcrError(_NOT_INSTALLED.format(program="pdfinfo (poppler-utils)")) from exc
    except PDFPageCountError as exc:
        raise OcrError(
            "The PDF could not be opened to count its pages; it may be damaged or "
            "password-protected. Upload a fresh copy."
        ) from exc
    except PDFPopplerTimeoutError as exc:
        raise OcrError(_TIMED_OUT.format(what="Reading the PDF", seconds=PDFINFO_TIMEOUT)) from exc
    return int(info["Pages"])


def render_pdf_page(pdf: Path, page_number: int, dpi: int, out_path: Path) -> Path:
    """Render one page (1-based) as an 8-bit grayscale PGM at `out_path` (suffix .pgm).

    Uncompressed PGM because the file lives for seconds and is read twice more (by us and
    by tesseract): encoding and decoding a PNG of 8 megapixels costs more than the disk."""
    if out_path.suffix != ".pgm":
        raise ValueError(f"render_pdf_page writes .pgm files, not {out_path.name}")
    out_path.unlink(missing_ok=True)  # a stale file from an earlier attempt must not pass
    try:
        pdf2image.convert_from_path(
            str(pdf),
            dpi=dpi,
            first_page=page_number,
            last_page=page_number,
            fmt="ppm",
            grayscale=True,
            single_file=True,
            output_folder=str(out_path.parent),
            output_file=out_path.stem,
            paths_only=True,
            timeout=RENDER_TIMEOUT,
        )
    except PDFInfoNotInstalledError as exc:
        raise OcrError(_NOT_INSTALLED.format(program="pdfinfo (poppler-utils)")) from exc
    except PDFPageCountError as exc:
        raise OcrError(
            "The page could not be rendered: the PDF could not be opened. "
            "It may be damaged; upload a fresh copy."
        ) from exc
    except PDFPopplerTimeoutError as exc:
        raise OcrError(
            _TIMED_OUT.format(what="Rendering the page", seconds=RENDER_TIMEOUT)
        ) from exc
    except OSError as exc:  # pdftoppm missing or not executable, or the folder unreadable
        raise OcrError(
            "Rendering the page failed: pdftoppm (poppler-utils) could not be run."
        ) from exc
    # pdf2image does not look at pdftoppm's exit status; the file is the only evidence.
    if not out_path.is_file():
        raise OcrError(
            "The page could not be rendered; the PDF may be damaged. Upload a fresh scan."
        )
    return out_path


def pdf_page_text(pdf: Path, page_number: int) -> str:
    """The text layer of one page, as pdftotext reads it (reading order, no layout)."""
    return _pdftotext(pdf, page_number, what="Reading the text of the page")


def pdf_page_words_xhtml(pdf: Path, page_number: int) -> str:
    """pdftotext's -bbox XHTML for one page: every word with its box in points, in the
    page's displayed orientation (its /Rotate applied), origin top left."""
    return _pdftotext(pdf, page_number, "-bbox", what="Reading the word positions on the page")


def _pdftotext(pdf: Path, page_number: int, *options: str, what: str) -> str:
    page = str(page_number)
    output = _run_poppler(
        ["pdftotext", "-q", *options, "-enc", "UTF-8", "-f", page, "-l", page, str(pdf), "-"],
        what=what,
        timeout=PDFTOTEXT_TIMEOUT,
    )
    return output.decode("utf-8", errors="replace")


# Messages name no page: the pipeline prefixes "Page N: " to whatever a page raises.


def _run_poppler(args: list[str], *, what: str, timeout: float) -> bytes:
    try:
        completed = subprocess.run(args, capture_output=True, timeout=timeout, check=True)
    except FileNotFoundError as exc:
        raise OcrError(_NOT_INSTALLED.format(program=f"{args[0]} (poppler-utils)")) from exc
    except subprocess.TimeoutExpired as exc:
        raise OcrError(_TIMED_OUT.format(what=what, seconds=timeout)) from exc
    except subprocess.CalledProcessError as exc:
        reason = _POPPLER_EXIT_REASONS.get(exc.returncode, f"{args[0]} failed")
        raise OcrError(
            f"{what} failed: {reason} (exit status {exc.returncode}). Retry the job; if it "
            "fails again, upload a fresh copy of the document."
        ) from exc
    except OSError as exc:
        raise OcrError(f"{what} failed: {args[0]} could not be started.") from exc
    return completed.stdout


# --- tesseract -------------------------------------------------------------------------


@dataclass(frozen=True)
class Orientation:
    rotate: int  # degrees clockwise that turn the image right way up: 0, 90, 180, 270
    confidence: float


def tesseract_orientation(image: Path, dpi: int) -> Orientation | None:
    """tesseract's orientation and script detection (--psm 0) for one page image. None when
    tesseract declines to decide, which it does by exiting non-zero on pages with too few
    characters; that is an answer ("can't tell"), not a failure."""
    try:
        with _tesseract_errors("detect the page orientation", OSD_TIMEOUT):
            osd = pytesseract.image_to_osd(
                str(image),
                config=f"--dpi {dpi}",
                output_type=pytesseract.Output.DICT,
                timeout=OSD_TIMEOUT,
            )
    except OcrError as exc:
        declined = isinstance(exc.__cause__, pytesseract.TesseractError) and (
            exc.__cause__.status > 0  # negative: killed by a signal, a real failure
        )
        if declined:
            return None
        raise
    if "rotate" not in osd:
        return None
    return Orientation(
        rotate=int(osd["rotate"]) % 360, confidence=float(osd.get("orientation_conf", 0.0))
    )


def tesseract_recognise(image: Path, dpi: int, out_base: Path, *, text_layer: bool) -> str:
    """One tesseract run over one page image. Writes `out_base`.tsv (words, boxes,
    confidences) and, with `text_layer`, `out_base`.pdf: tesseract's text-only PDF, the
    invisible text sized to the image at `dpi`. Returns the TSV text."""
    tsv = out_base.with_name(out_base.name + ".tsv")
    pdf = out_base.with_name(out_base.name + ".pdf")
    tsv.unlink(missing_ok=True)
    pdf.unlink(missing_ok=True)
    config = f"--dpi {dpi} -c tessedit_create_tsv=1"
    if text_layer:
        config += " -c textonly_pdf=1"
    with _tesseract_errors("read the page", RECOGNISE_TIMEOUT):
        run_tesseract(
            str(image),
            str(out_base),
            extension="tsv pdf" if text_layer else "tsv",
            lang=LANGUAGE,
            config=config,
            timeout=RECOGNISE_TIMEOUT,
        )
    if not tsv.is_file() or (text_layer and not pdf.is_file()):
        raise OcrError("The OCR engine finished without writing its results; retry the job.")
    return tsv.read_text(encoding="utf-8")


def tesseract_text_only_pdf(image: Path, dpi: int, out_pdf: Path) -> Path:
    """tesseract's text-only PDF for one page image, without keeping the word data."""
    if out_pdf.suffix != ".pdf":
        raise ValueError(f"tesseract names its PDF <base>.pdf; got {out_pdf.name}")
    out_pdf.unlink(missing_ok=True)
    out_base = out_pdf.with_suffix("")
    with _tesseract_errors("read the page", RECOGNISE_TIMEOUT):
        run_tesseract(
            str(image),
            str(out_base),
            extension="pdf",
            lang=LANGUAGE,
            config=f"--dpi {dpi} -c textonly_pdf=1",
            timeout=RECOGNISE_TIMEOUT,
        )
    if not out_pdf.is_file():
        raise OcrError("The OCR engine finished without writing its results; retry the job.")
    return out_pdf


@contextmanager
def _tesseract_errors(action: str, timeout: float) -> Iterator[None]:
    _pin_tesseract_threads()
    try:
        yield
    except pytesseract.TesseractNotFoundError as exc:  # an OSError: must come first
        raise OcrError(_NOT_INSTALLED.format(program="tesseract")) from exc
    except pytesseract.TesseractError as exc:  # a RuntimeError: must come before it
        raise OcrError(
            f"The OCR engine could not {action} (tesseract exit status {exc.status}). "
            "Retry the job; if it fails again, rescan the page."
        ) from exc
    except RuntimeError as exc:
        if type(exc) is not RuntimeError:
            raise
        # pytesseract reports its own timeout (after killing tesseract) as a bare
        # RuntimeError; everything else it raises has a type of its own.
        raise OcrError(_TIMED_OUT.format(what=f"Trying to {action}", seconds=timeout)) from exc
    except OSError as exc:
        raise OcrError(f"The OCR engine could not {action}: tesseract could not be run.") from exc


_NOT_INSTALLED = (
    "{program} is not installed on this server, so scans cannot be read. "
    "Ask an administrator to install it."
)
_TIMED_OUT = (
    "{what} took longer than {seconds} seconds and was stopped. Retry the job; if it "
    "happens again, the scan may be unusually large or damaged."
)
