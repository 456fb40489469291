"""The printable sheets: a patient cover sheet (MRN, name, document type, encounter) and the
generic "new document, same patient" separator, each one letter page with the QR code near
the top and the same fields in large type, so a clerk can check by eye what the scanner
will read.

The QR code is drawn 2.4 inches wide: at the 100 dpi the splitter renders pages at, each
module is then about 5 pixels, enough after a 200-dpi bitonal scan, a 5° skew or a
photocopy. Error correction level Q restores a quarter of the symbol (a staple, a smudge).
"""

from __future__ import annotations

from datetime import UTC, datetime

import zxingcpp
from fpdf import FPDF
from PIL import Image

from archive.pdf_text import add_unicode_font, drawable
from ingest.batches.codes import SEPARATOR_CODE, SheetCode

CODE_WIDTH_INCHES = 2.4
UNICODE_FAMILY = "sheetsans"
# Same sheet, same bytes: the PDF is dated by this constant, not by the printing.
FIXED_DATE = datetime(2020, 1, 1, tzinfo=UTC)


def qr_image(code: SheetCode) -> Image.Image:
    """The sheet's QR code as a bitonal image, one pixel per module, quiet zone included."""
    symbol = zxingcpp.create_barcode(code.payload(), zxingcpp.BarcodeFormat.QRCode, ec_level="Q")
    pixels = memoryview(symbol.to_image(scale=1))
    height, width = pixels.shape
    return Image.frombytes("L", (width, height), pixels.tobytes())


def cover_sheet_pdf(code: SheetCode, patient_name: str = "") -> bytes:
    """A patient cover sheet; ``patient_name`` is left off when empty (a restricted chart)."""
    pdf = _SheetPDF(code)
    pdf.big("PATIENT COVER SHEET", 26)
    pdf.big(f"MRN  {code.mrn}", 30)
    if patient_name:
        pdf.big(patient_name, 20)
    pdf.big(code.doc_type.replace("_", " ").upper(), 24)
    if code.encounter:
        pdf.big(f"Encounter  {code.encounter}", 20)
    pdf.note("Put this sheet in front of the document it names and scan the stack as one "
             "batch. The pages after it, up to the next sheet, are filed to this patient as "
             "this type of document. The sheet itself (and its blank back) is not kept.")
    return bytes(pdf.output())


def separator_sheet_pdf() -> bytes:
    """The generic separator: the pages after it are a new document of the same patient
    and type as the cover sheet before it."""
    pdf = _SheetPDF(SEPARATOR_CODE)
    pdf.big("NEXT DOCUMENT", 30)
    pdf.big("SAME PATIENT", 30)
    pdf.note("Put this sheet between two documents of the patient named by the cover sheet "
             "before it. The pages after it are filed as a new document of the same type.")
    return bytes(pdf.output())


class _SheetPDF(FPDF):
    def __init__(self, code: SheetCode) -> None:
        super().__init__(orientation="P", unit="in", format="letter")
        self.family, self.coverage = add_unicode_font(self, UNICODE_FAMILY)
        self.set_creation_date(FIXED_DATE)
        self.set_creator("ChartVault")
        self.set_auto_page_break(auto=False)
        self.add_page()
        left = (self.w - CODE_WIDTH_INCHES) / 2
        self.image(qr_image(code), x=left, y=0.8, w=CODE_WIDTH_INCHES)
        self.set_y(0.8 + CODE_WIDTH_INCHES + 0.3)

    def big(self, text: str, points: float) -> None:
        self.set_font(self.family, "B", points)
        self.cell(0, points / 72 * 1.4, drawable(text, self.coverage), align="C",
                  new_x="LMARGIN", new_y="NEXT")

    def note(self, text: str) -> None:
        self.ln(0.3)
        self.set_font(self.family, "", 12)
        self.multi_cell(0, 0.22, drawable(text, self.coverage), align="C")
