"""Redaction that cannot be undone: a page with boxes to black out is drawn as pixels, the
boxes are burned into those pixels, and the page is replaced by that image alone. Whatever
the original page carried (a text layer, hidden text, annotations, the image under the box)
does not reach the packet, so nothing can be selected, copied or uncovered from it."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import img2pdf
from PIL import Image, ImageDraw

from archive.errors import BadRequest
from ingest.ocr import raster, sources

# Enough to read small print and to OCR the released page; a letter page is 1700 x 2200
# pixels, which keeps a 10-redaction packet quick to build.
REDACTION_DPI = 200
BLACK = 0


@dataclass(frozen=True)
class Box:
    """A region of a page as fractions of its width and height, origin at the top left of
    the page as it is shown (its /Rotate applied), as the viewer draws it."""

    x0: float
    y0: float
    x1: float
    y1: float


def check_box(values: Sequence[float], where: str) -> Box:
    """The box, or a 400 naming `where` (e.g. "redactions[2].box") and what is wrong."""
    if len(values) != 4:
        raise BadRequest(f"{where} must be [x0, y0, x1, y1], four numbers.")
    x0, y0, x1, y1 = (float(v) for v in values)
    if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)):
        raise BadRequest(f"{where} must lie inside the page: each number is a fraction of "
                         "the page between 0 and 1.")
    if x0 >= x1 or y0 >= y1:
        raise BadRequest(f"{where} is empty: x0 must be less than x1 and y0 less than y1.")
    return Box(x0, y0, x1, y1)


def redacted_page(source_pdf: Path, page_number: int, boxes: Sequence[Box], workdir: Path,
                  dpi: int = REDACTION_DPI) -> bytes:
    """A one-page PDF holding only the image of page `page_number` (1-based) of
    `source_pdf` with `boxes` burned in black. The page keeps its displayed size.

    Drawn in grayscale by the OCR's renderer: a redacted page is a copy for reading, and
    grayscale keeps it a quarter of the size of colour."""
    pixels = workdir / f"redact-{page_number}.pgm"
    raster.rasterize_page(source_pdf, sources.PDF, page_number, dpi, pixels)
    try:
        with Image.open(pixels) as image:
            image.load()
            burned = burn(image, boxes)
    finally:
        pixels.unlink(missing_ok=True)
    png = io.BytesIO()
    burned.save(png, format="PNG")
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    return img2pdf.convert(png.getvalue(), layout_fun=layout)


def burn(image: Image.Image, boxes: Sequence[Box]) -> Image.Image:
    """The image with every box painted black, rounded outwards to whole pixels so that no
    partly covered pixel keeps a trace of what was under it."""
    burned = image.copy()
    draw = ImageDraw.Draw(burned)
    width, height = burned.size
    for box in boxes:
        left, top = math.floor(box.x0 * width), math.floor(box.y0 * height)
        right, bottom = math.ceil(box.x1 * width), math.ceil(box.y1 * height)
        # rectangle() includes its last row and column.
        draw.rectangle((left, top, max(left, right - 1), max(top, bottom - 1)), fill=BLACK)
    return burned
