"""Scanned batches made on the fly: cover and separator sheets from the archive's own
generator, rasterised with poppler and put through the same scanner simulation as the OCR
tests (tests.ingest.scans), interleaved with short typeset report pages. Deterministic."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import img2pdf
from pdf2image import convert_from_bytes
from PIL import Image, ImageDraw
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from ingest.batches.codes import patient_code
from ingest.batches.sheets import CODE_WIDTH_INCHES, cover_sheet_pdf, separator_sheet_pdf
from tests.ingest import scans


def sheet_image(pdf: bytes, dpi: int) -> Image.Image:
    return convert_from_bytes(pdf, dpi=dpi, grayscale=True)[0]


def cover(mrn: str, doc_type: str, encounter: str = "", dpi: int = 200) -> Image.Image:
    return sheet_image(cover_sheet_pdf(patient_code(mrn, doc_type, encounter), "TEST, PATIENT"),
                       dpi)


def separator(dpi: int = 200) -> Image.Image:
    return sheet_image(separator_sheet_pdf(), dpi)


def blot_code(sheet: Image.Image, dpi: int) -> Image.Image:
    """Ink spilled over the middle of the QR code: the finder squares stay, the data
    does not (beyond what error correction restores)."""
    damaged = sheet.copy()
    left, top, width = (8.5 - CODE_WIDTH_INCHES) / 2 * dpi, 0.8 * dpi, CODE_WIDTH_INCHES * dpi
    ImageDraw.Draw(damaged).rectangle(
        (left + 0.35 * width, top + 0.3 * width, left + 0.75 * width, top + 0.72 * width),
        fill=10)
    return damaged


def report(title: str, dpi: int = 200) -> Image.Image:
    """A short typeset report page (rendered at 300 dpi, brought to ``dpi``)."""
    page = scans.render_page([title, "", *scans.SHORT_NOTE[1:]])
    return page.resize((round(8.5 * dpi), round(11 * dpi)), Image.Resampling.LANCZOS)


def scanned(page: Image.Image, seed: int, *, skew: float = 0.0, upside_down: bool = False,
            bitonal: bool = False) -> Image.Image:
    image = scans.scan(page, random.Random(seed), skew=skew)
    if upside_down:
        image = image.transpose(Image.Transpose.ROTATE_180)
    if bitonal:
        image = image.point(lambda value: 255 if value >= 150 else 0).convert("1")
    return image


def blank(dpi: int, seed: int) -> Image.Image:
    back = scans.blank_back(scans.render_page(["(front)"]), random.Random(seed))
    return back.resize((round(8.5 * dpi), round(11 * dpi)))


def pdf_of(pages: list[tuple[Image.Image, int]]) -> bytes:
    """One PDF, each page an image at its own resolution (as a scanner writes them)."""
    encoded = []
    for image, dpi in pages:
        buffer = io.BytesIO()
        if image.mode == "1":
            image.save(buffer, "PNG", dpi=(dpi, dpi))
        else:
            image.save(buffer, "JPEG", quality=80, dpi=(dpi, dpi))
        encoded.append(buffer.getvalue())
    return img2pdf.convert(encoded)


@dataclass(frozen=True)
class Stack:
    pdf: bytes
    filed: tuple[tuple[str, str, tuple[int, ...]], ...]  # (mrn, type, stack pages)
    unidentified: tuple[tuple[int, ...], ...]


def mixed_stack() -> Stack:
    """Three patients, five documents, a blank back, a separator fed upside down, sheets at
    200 and 300 dpi, skewed up to 5 degrees, one bitonal; one cover sheet's code blotted,
    one naming an MRN nobody registered."""
    pages = [
        (scanned(cover("MRN-1001", "discharge_summary", "E-17"), 1, skew=4.5), 200),  # 1
        (blank(200, 2), 200),                                                         # 2
        (scanned(report("DISCHARGE SUMMARY PAGE ONE"), 3, skew=0.7), 200),            # 3
        (scanned(report("DISCHARGE SUMMARY PAGE TWO"), 4, skew=-0.5), 200),           # 4
        (scanned(separator(300), 5, skew=-2, upside_down=True), 300),                 # 5
        (scanned(report("SECOND DISCHARGE SUMMARY"), 6), 200),                        # 6
        (scanned(cover("MRN-2002", "progress_note", dpi=300), 7, skew=-5), 300),       # 7
        (scanned(report("PROGRESS NOTE"), 8, skew=1), 200),                           # 8
        (scanned(cover("MRN-3003", "operative_report"), 9, bitonal=True), 200),       # 9
        (scanned(report("OPERATIVE REPORT"), 10), 200),                               # 10
        (scanned(blot_code(cover("MRN-2002", "consultation"), 200), 11), 200),       # 11
        (scanned(report("CONSULTATION OF SOMEONE"), 12), 200),                        # 12
        (scanned(cover("MRN-9999", "progress_note"), 13, skew=2), 200),               # 13
        (scanned(report("NOTE OF AN UNKNOWN PATIENT"), 14), 200),                     # 14
        (scanned(cover("MRN-3003", "lab_result"), 15, upside_down=True), 200),        # 15
        (scanned(report("LABORATORY RESULTS"), 16), 200),                             # 16
    ]
    return Stack(
        pdf=pdf_of(pages),
        filed=(("MRN-1001", "discharge_summary", (3, 4)), ("MRN-1001", "discharge_summary", (6,)),
               ("MRN-2002", "progress_note", (8,)), ("MRN-3003", "operative_report", (10,)),
               ("MRN-3003", "lab_result", (16,))),
        unidentified=((12,), (14,)),
    )


def multipart(data: bytes, name: str, **fields: str) -> dict:
    """Keyword arguments for the test client's post: the body encoded in memory (the test
    client would spool a body this large to a temporary file and leave it open)."""
    boundary, body = encode_multipart({**fields, "file": FileStorage(io.BytesIO(data), name)})
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}
