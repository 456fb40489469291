"""Reading a scanned stack and cutting it into parts, before any OCR.

Each page is drawn small (READ_DPI, grey) and handed to zxing-cpp, which finds QR codes at
any angle (a skewed or upside-down sheet reads the same). A page is a *sheet* when it
carries one of our codes, readable or not: zxing-cpp reports a symbol it found but could
not decode (a blot over it) as an invalid result, and such a sheet starts a part that is
left unidentified rather than being taken for a page of the document before it. The page
right after a sheet is dropped when it is blank (the sheet's back in a duplex scan).

``plan_parts`` is a pure function of the page readings, so the rules are tested without
images; ``read_stack`` does the drawing and decoding.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import zxingcpp
from PIL import Image

from ingest.batches import codes
from ingest.ocr import raster, sources

READ_DPI = 100
UNREADABLE_CODE = "The cover sheet's code could not be read (damaged, smudged or cut off)."
NO_COVER = "These pages come before the first cover sheet, so nothing says whose they are."
SEPARATOR_FIRST = ("A separator sheet says 'same patient', but no readable cover sheet came "
                   "before it in this batch.")


@dataclass(frozen=True)
class PageReading:
    """What one page of the stack is: a sheet (its code, or the reason it is unusable),
    a blank page, or content."""

    number: int  # 1-based, in the stack
    sheet: codes.SheetCode | None = None
    problem: str = ""  # for a sheet whose code cannot be used
    is_sheet: bool = False
    blank: bool = False


@dataclass
class Part:
    """A run of content pages with what its sheet says about them; ``problem`` is set when
    it cannot be filed (it goes to the unidentified parts, never to a guessed patient)."""

    mrn: str = ""
    doc_type: str = ""
    encounter: str = ""
    problem: str = ""
    pages: list[int] = field(default_factory=list)


def plan_parts(readings: Iterable[PageReading]) -> list[Part]:
    """Cut the stack at every sheet; drop the sheets and a blank page right after one."""
    parts: list[Part] = []
    current: Part | None = None
    identity: Part | None = None  # what the last readable cover sheet named
    after_sheet = False
    for page in readings:
        if page.is_sheet:
            current, identity = _part_after(page, identity)
            parts.append(current)
            after_sheet = True
            continue
        if page.blank and after_sheet:
            after_sheet = False
            continue
        after_sheet = False
        if current is None:
            current = Part(problem=NO_COVER)
            parts.append(current)
        current.pages.append(page.number)
    return [part for part in parts if part.pages]


def _part_after(page: PageReading, identity: Part | None) -> tuple[Part, Part | None]:
    """The part a sheet starts, and what later separator sheets will repeat."""
    if page.sheet is None:
        # An unreadable sheet may have been a new patient's cover: later separators must
        # not carry the patient before it across.
        return Part(problem=page.problem or UNREADABLE_CODE), None
    if page.sheet.kind == codes.PATIENT:
        named = Part(page.sheet.mrn, page.sheet.doc_type, page.sheet.encounter)
        return Part(named.mrn, named.doc_type, named.encounter), named
    if identity is None:
        return Part(problem=SEPARATOR_FIRST), None
    return Part(identity.mrn, identity.doc_type, identity.encounter), identity


def read_page(image: Image.Image, number: int) -> PageReading:
    """Classify one small greyscale page image."""
    found = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormat.QRCode, return_errors=True
    )
    ours = [code for code in found if code.valid and codes.is_ours(code.text)]
    if ours:
        try:
            return PageReading(number, sheet=codes.parse(ours[0].text), is_sheet=True)
        except codes.BadCode as err:
            return PageReading(number, problem=str(err), is_sheet=True)
    if any(not code.valid for code in found):
        return PageReading(number, problem=UNREADABLE_CODE, is_sheet=True)
    return PageReading(number)


def read_stack(
    source: Path, media_type: str, on_page: Callable[[int, int], None] | None = None
) -> list[PageReading]:
    """Read every page of a PDF or TIFF stack, one at a time; ``on_page(done, total)``
    after each (the job renews its lease there)."""
    total = raster.page_count(source, media_type)
    readings = []
    with tempfile.TemporaryDirectory(prefix="chartvault-batch-") as tmp:
        for number in range(1, total + 1):
            path = Path(tmp) / f"page-{number}.pgm"
            _draw_small(source, media_type, number, path)
            with Image.open(path) as image:
                reading = read_page(image.convert("L"), number)
            if not reading.is_sheet:
                reading = PageReading(number, blank=raster.is_blank(path))
            readings.append(reading)
            path.unlink()
            if on_page is not None:
                on_page(number, total)
    return readings


def _draw_small(source: Path, media_type: str, number: int, path: Path) -> None:
    """Page ``number`` as a READ_DPI greyscale PGM: PDFs are rendered at that size, image
    frames (scanned at 200-600 dpi) are reduced to it."""
    dpi = raster.rasterize_page(source, media_type, number, READ_DPI, path)
    if dpi <= READ_DPI * 1.5:
        return
    with Image.open(path) as image:
        small = sources.grayscale(image).reduce(max(1, round(dpi / READ_DPI)))
    small.save(path, format="PPM")


def extract_pages(source: Path, media_type: str, pages: list[int], out: Path) -> Path:
    """The stack's ``pages`` as a file of their own, in the stack's format, byte for byte
    the same on every run (a retried split files nothing twice: the filing service
    recognises the same bytes for the same patient)."""
    if media_type == sources.PDF:
        return _pdf_pages(source, pages, out.with_suffix(".pdf"))
    return _tiff_frames(source, pages, out.with_suffix(".tif"))


def _pdf_pages(source: Path, pages: list[int], out: Path) -> Path:
    import pikepdf

    with pikepdf.open(source) as stack, pikepdf.new() as part:
        for number in pages:
            part.pages.append(stack.pages[number - 1])
        part.save(out, deterministic_id=True)
    return out


def _tiff_frames(source: Path, pages: list[int], out: Path) -> Path:
    frames = [sources.load_frame(source, number) for number in pages]
    first, *rest = frames
    # Bitonal scans keep their CCITT G4 compression; grey and colour ones LZW (lossless).
    compression = "group4" if first.mode == "1" and all(f.mode == "1" for f in rest) else \
        "tiff_lzw"
    dpi = sources.frame_resolution(first, 300)
    first.save(out, "TIFF", save_all=True, append_images=rest, compression=compression, dpi=dpi)
    return out
