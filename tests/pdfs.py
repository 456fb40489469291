"""PDFs with a real text layer, built with pikepdf: qpdf writes the file (objects, cross
reference table, trailer), so a test never hand-writes PDF syntax. The same arguments
always give the same bytes (no date, an /ID derived from the content)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import pikepdf
from pikepdf import Name, Operator

LETTER = (612, 792)  # points

# One instruction of a content stream: its operands and its operator.
Instruction = tuple[Sequence[object], str]


def shown(text: str) -> pikepdf.String:
    """`text` as a string operand, in the single-byte encoding of the page's font."""
    return pikepdf.String(text.encode("latin-1"))


def helvetica_pdf(pages: Iterable[Sequence[Instruction]], encoding: str | None = None) -> bytes:
    """A letter-size PDF with one page per list of instructions; every page has
    Helvetica as /F1 (with the named /Encoding if given)."""
    pdf = pikepdf.new()
    font = pikepdf.Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
    if encoding:
        font.Encoding = Name(encoding)
    font = pdf.make_indirect(font)
    for instructions in pages:
        page = pdf.add_blank_page(page_size=LETTER)
        page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        page.obj.Contents = pdf.make_stream(content_stream(instructions))
    return saved(pdf)


def content_stream(instructions: Iterable[Instruction]) -> bytes:
    return pikepdf.unparse_content_stream(
        [(list(operands), Operator(operator)) for operands, operator in instructions]
    )


def saved(pdf: pikepdf.Pdf) -> bytes:
    buffer = io.BytesIO()
    pdf.save(buffer, deterministic_id=True)
    return buffer.getvalue()
