"""The OCR orchestrator: one scanned document in, per-page text and a searchable PDF out.

    process_document            (parent: counts pages, collects, assembles)
      └─ _process_page × N      (worker processes, through executor.map_pages)
           the page's own scanned image, or else rasterize the page
           its own text layer?  → keep that text, no OCR
           blank?               → keep the page, marked blank, no OCR
           skewed?              → straighten it (skew.py); it is what is read and shown
           recognise            (tesseract once: words, boxes, text-only PDF layer)
           unconvincing read?   → orientation check, turn, recognise again, keep the better
           viewing image, thumbnail
           the page's searchable PDF page: original page (or the straightened image)
                                           + text layer
      concatenate the page PDFs into the searchable PDF

Workers do CPU work on files in `workdir` and return plain results; the parent (the job
that called us) writes database rows and audit events, e.g. from `on_page`. No page image
is ever held for more than one page at a time, and each page's intermediate files are
deleted as soon as the page is done."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ingest.ocr import pdf, raster, recognition, skew, sources
from ingest.ocr.errors import OcrError
from ingest.ocr.executor import map_pages
from ingest.ocr.recognition import Recognition, Word

__all__ = ["DocumentResult", "PageResult", "Word", "process_document"]

# Below this mean word confidence a page is checked for being upside down or sideways.
# Right-way-up print reads at 85-96; a page upside down reads as garbage at about 30.
# The check costs one tesseract orientation run (about as long as reading the page), so
# it is not spent on every page: ocrmypdf skips it entirely unless asked.
ORIENTATION_CHECK_BELOW = 60.0


@dataclass(frozen=True)
class PageResult:
    number: int
    text: str
    confidence: float | None  # None: not OCR'd (blank, or text from the PDF itself);
    # 0.0: OCR'd and nothing legible found
    words: tuple[Word, ...]  # boxes in pixels of the page image at width × height
    blank: bool
    rotation: int  # degrees turned clockwise, from how the original shows the page, to
    # read it (0, 90, 180, 270); the searchable PDF shows the page turned the same way
    had_text_layer: bool
    skew: float | None  # degrees (counter-clockwise) the scan's lines were turned from
    # level; None when not measured (blank pages, pages with their own text)
    straightened: bool  # turned level before reading: the viewing image, the word boxes
    # and the searchable PDF's page all show the straightened page
    width: int  # pixels of the full-resolution page image, after turning
    height: int
    image_path: Path  # viewing image: the page as shown, scaled to VIEWING_LONG_SIDE
    thumbnail_path: Path


@dataclass(frozen=True)
class DocumentResult:
    pages: tuple[PageResult, ...]
    searchable_pdf: Path


def process_document(
    original: Path,
    media_type: str,
    workdir: Path,
    *,
    workers: int,
    dpi: int = 300,
    on_page: Callable[[PageResult, int], None] | None = None,
) -> DocumentResult:
    """OCR every page of `original` (PDF, TIFF, PNG or JPEG) over `workers` processes.

    `on_page(result, total_pages)` is called here, in the calling process, as each page
    finishes (in completion order, not page order). Outputs are written into `workdir`:
    per page `pNNNN-view.jpg` and `pNNNN-thumb.jpg`, and `searchable.pdf` (the original
    pages with an invisible text layer). The original is only read."""
    workdir.mkdir(parents=True, exist_ok=True)
    total = raster.page_count(original, media_type)
    if total < 1:
        raise OcrError("The document has no pages. Upload the scan again.")
    tasks = (
        (number, _PageTask(original, media_type, number, dpi, workdir))
        for number in range(1, total + 1)
    )
    finished: dict[int, _PageOutcome] = {}
    # closing(): if on_page raises, the pages not yet started are cancelled at once.
    with closing(map_pages(_process_page, tasks, workers)) as pages:
        for number, outcome in pages:
            finished[number] = outcome
            if on_page is not None:
                on_page(outcome.result, total)

    page_pdfs = [finished[number].searchable_page for number in range(1, total + 1)]
    searchable = pdf.concatenate_pdfs(page_pdfs, workdir / "searchable.pdf")
    for page_pdf in page_pdfs:
        page_pdf.unlink()
    return DocumentResult(
        pages=tuple(finished[number].result for number in range(1, total + 1)),
        searchable_pdf=searchable,
    )


# --- one page, in a worker -----------------------------------------------------------------


@dataclass(frozen=True)
class _PageTask:
    source: Path
    media_type: str
    number: int
    dpi: int
    workdir: Path


@dataclass(frozen=True)
class _PageOutcome:
    result: PageResult
    searchable_page: Path  # this page of the searchable PDF, for the parent to join


@dataclass(frozen=True)
class _Read:
    recognition: Recognition
    rotation: int
    image: Path  # the page image the words were read from (turned if rotation)
    text_layer: Path


class _PageFiles:
    """Where one page's files go in the work directory."""

    def __init__(self, workdir: Path, number: int):
        stem = workdir / f"p{number:04d}"
        self.raster = stem.with_name(f"{stem.name}-page.pgm")
        self.level = stem.with_name(f"{stem.name}-level.pgm")
        self.level_jpeg = stem.with_name(f"{stem.name}-level.jpg")
        self.base = stem.with_name(f"{stem.name}-base.pdf")
        self.viewing = stem.with_name(f"{stem.name}-view.jpg")
        self.thumbnail = stem.with_name(f"{stem.name}-thumb.jpg")
        self.searchable = stem.with_name(f"{stem.name}-searchable.pdf")
        self._stem = stem

    def turned(self, rotation: int) -> Path:
        return self._stem.with_name(f"{self._stem.name}-turned{rotation}.pgm")

    def text_layer(self, rotation: int) -> Path:
        return self._stem.with_name(f"{self._stem.name}-layer{rotation}.pdf")

    def intermediates(self) -> list[Path]:
        turns = (0, 90, 180, 270)
        return [
            self.raster,
            self.level,
            self.level_jpeg,
            self.base,
            *map(self.turned, turns),
            *map(self.text_layer, turns),
        ]


def _process_page(task: _PageTask) -> _PageOutcome:
    files = _PageFiles(task.workdir, task.number)
    try:
        return _read_page(task, files)
    except OcrError as exc:
        raise OcrError(f"Page {task.number}: {exc.message}") from exc
    finally:
        for path in files.intermediates():
            path.unlink(missing_ok=True)


def _read_page(task: _PageTask, files: _PageFiles) -> _PageOutcome:
    is_pdf = task.media_type == sources.PDF
    # A page that is just a scanned JPEG is decoded, not rendered, and has no text layer.
    scan_dpi = None
    if is_pdf:
        scan_dpi = raster.extract_scan(task.source, task.number, task.dpi, files.raster)
    dpi = scan_dpi or raster.rasterize_page(
        task.source, task.media_type, task.number, task.dpi, files.raster
    )

    has_text = is_pdf and scan_dpi is None
    existing_text = recognition.page_text_layer(task.source, task.number) if has_text else None
    blank = existing_text is None and raster.is_blank(files.raster)
    level = _Level(None, files.raster)
    if existing_text is not None:
        text, confidence, rotation = existing_text, None, 0
        words = recognition.text_layer_words(task.source, task.number, dpi)
        shown_image, text_layer = files.raster, None
    elif blank:
        text, confidence, words, rotation = "", None, (), 0
        shown_image, text_layer = files.raster, None
    else:
        level = _level_page(task, files, dpi, scanned=scan_dpi is not None)
        read = _read_right_way_up(files, level.image, dpi)
        text, confidence = read.recognition.text, read.recognition.confidence
        words, rotation = read.recognition.words, read.rotation
        shown_image, text_layer = read.image, read.text_layer

    width, height = raster.image_size(shown_image)
    raster.make_viewing_image(shown_image, files.viewing)
    raster.make_thumbnail(files.viewing, files.thumbnail)
    base_pdf, base_page = _base_page(task, files, dpi, level)
    pdf.overlay_text_layer(base_pdf, base_page, text_layer, rotation, files.searchable)
    result = PageResult(
        number=task.number,
        text=text,
        confidence=confidence,
        words=words,
        blank=blank,
        rotation=rotation,
        had_text_layer=existing_text is not None,
        skew=level.skew,
        straightened=level.straightened,
        width=width,
        height=height,
        image_path=files.viewing,
        thumbnail_path=files.thumbnail,
    )
    return _PageOutcome(result=result, searchable_page=files.searchable)


@dataclass(frozen=True)
class _Level:
    skew: float | None  # as measured; None when not measured
    image: Path  # the page image to read: straightened, or the scan itself

    @property
    def straightened(self) -> bool:
        return self.skew is not None and skew.needs_straightening(self.skew)


def _level_page(task: _PageTask, files: _PageFiles, dpi: int, *, scanned: bool) -> _Level:
    """Measure the page's skew, and straighten it when that is worth a rotation (a
    straight page costs only the measurement). A scanned JPEG is straightened from its
    pixels as decoded, not softened first (see raster.extract_scan)."""
    found = skew.measure(files.raster, dpi)
    if not skew.needs_straightening(found):
        return _Level(found, files.raster)
    pixels = files.raster
    if scanned and raster.extract_scan(
        task.source, task.number, task.dpi, files.level, soften=False
    ):
        pixels = files.level
    return _Level(found, skew.straighten(pixels, found, files.level))


def _base_page(task: _PageTask, files: _PageFiles, dpi: int, level: _Level) -> tuple[Path, int]:
    """The PDF page the searchable page is built on, and its number there: the original
    page; for an image file, its page made PDF; for a straightened page, the level image,
    so that the text layer (read from it) lies on the words as shown. The stored original
    stays as scanned either way: only this derivative shows the page level."""
    if level.straightened:
        raster.save_scan_jpeg(level.image, dpi, files.level_jpeg)
        return pdf.image_page_pdf(files.level_jpeg, sources.JPEG, 1, dpi, files.base), 1
    if task.media_type == sources.PDF:
        return task.source, task.number
    return pdf.image_page_pdf(task.source, task.media_type, task.number, dpi, files.base), 1


def _read_right_way_up(files: _PageFiles, page_image: Path, dpi: int) -> _Read:
    """Read the page as scanned (or as straightened); only if that reads badly, ask
    tesseract which way up it is, turn it, read again, and keep whichever reading is more
    confident (so a wrong orientation guess can never make a page worse)."""
    first = _Read(
        recognition.recognise(page_image, dpi, text_layer_pdf=files.text_layer(0)),
        0,
        page_image,
        files.text_layer(0),
    )
    if first.recognition.confidence >= ORIENTATION_CHECK_BELOW:
        return first
    rotation = recognition.detect_rotation(page_image, dpi)
    if rotation == 0:
        return first
    turned = raster.rotate(page_image, rotation, files.turned(rotation))
    layer = files.text_layer(rotation)
    second = _Read(
        recognition.recognise(turned, dpi, text_layer_pdf=layer), rotation, turned, layer
    )
    return second if second.recognition.confidence > first.recognition.confidence else first
