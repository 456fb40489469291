"""The base of release's own PDFs drawn with fpdf2 (the accounting of disclosures, the denial
letter, the invoice): A4, the installed Unicode font when there is one (archive.pdf_text),
text cleaned to what that font can draw, and a creation date that belongs to the document —
the same accounting, letter or invoice renders to the same bytes whenever it is asked for."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from fpdf import FPDF

from archive.pdf_text import add_unicode_font, drawable

UNICODE_FAMILY = "chartvault-sans"


class DocumentPDF(FPDF):
    def __init__(self, *, orientation: str, dated: date, title: str, margin: float) -> None:
        super().__init__(orientation=orientation, unit="mm", format="A4")
        self.family, self.coverage = add_unicode_font(self, UNICODE_FAMILY)
        self.set_auto_page_break(auto=True, margin=margin)
        self.set_creation_date(datetime.combine(dated, time(), UTC))
        self.set_title(self.clean(title))
        self.set_creator("ChartVault")

    def clean(self, text: str, lines: bool = False) -> str:
        """Text the font can draw; line breaks kept only where asked (an address)."""
        parts = text.split("\n") if lines else [text]
        return "\n".join(drawable(part, self.coverage) for part in parts)

    def use(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)
