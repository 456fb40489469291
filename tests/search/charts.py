"""PDFs with a real text layer, built with pikepdf: the pipeline reads their text with
pdftotext instead of OCR, so search tests get exact words quickly (OCR itself is tested in
tests/ingest)."""

from __future__ import annotations

from pikepdf import Name

from tests.pdfs import helvetica_pdf, shown


def text_pdf(*pages: list[str]) -> bytes:
    """A letter-size PDF, one page per list of lines, in Helvetica (Latin-1 text only)."""
    return helvetica_pdf(
        (
            [
                ([], "BT"),
                ([Name.F1, 11], "Tf"),
                ([14], "TL"),
                ([72, 720], "Td"),
                *(instruction for line in lines for instruction in _line(line)),
                ([], "ET"),
            ]
            for lines in pages
        ),
        encoding="/WinAnsiEncoding",
    )


def _line(text: str) -> list[tuple[list[object], str]]:
    """The line shown, then the next line started (Tj T*)."""
    return [([shown(text)], "Tj"), ([], "T*")]
