"""The letters of an amendment request as PDFs: the amendment itself, the denial letter, the
patient's statement of disagreement and the hospital's rebuttal. Plain text in a standard
font on letter pages, with a real text layer, so the archive's own pipeline reads and
indexes them like any other filed document (no OCR guesswork for what we wrote ourselves)."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import pikepdf
from pikepdf import Dictionary, Name, Operator

from release.packet_pdf import (
    LETTER,
    LETTER_FONT_SIZE,
    LETTER_LEADING,
    LETTER_LINES,
    LETTER_WIDTH,
    MARGIN,
    helvetica,
)

TITLE_FONT_SIZE = 14


def letter_pdf(title: str, paragraphs: Sequence[str]) -> bytes:
    """A PDF of the title, then each paragraph wrapped to the page's width (a line break
    inside a paragraph is kept; an empty paragraph is a blank line), on as many pages as it
    takes. Each page says which page of how many it is, since the letters are printed."""
    lines = [wrapped for paragraph in paragraphs for wrapped in _wrapped(paragraph)]
    body = LETTER_LINES - 3  # the title, a blank line and the page count take three
    pages = [lines[i:i + body] for i in range(0, len(lines), body)] or [[]]
    out = io.BytesIO()
    with pikepdf.new() as pdf:
        font = pdf.make_indirect(helvetica())
        for number, page_lines in enumerate(pages, start=1):
            _page(pdf, font, title, page_lines, f"Page {number} of {len(pages)}")
        pdf.save(out, deterministic_id=True)
    return out.getvalue()


def _wrapped(paragraph: str) -> list[str]:
    if not paragraph.strip():
        return [""]
    return [wrapped for line in paragraph.splitlines()
            for wrapped in (textwrap.wrap(line, LETTER_WIDTH) or [""])]


def _page(pdf: pikepdf.Pdf, font, title: str, lines: Sequence[str], count: str) -> None:
    page = pdf.add_blank_page(page_size=LETTER)
    page.obj.Resources = Dictionary(Font=Dictionary(F1=font))
    ops = [([], "BT"), ([Name.F1, TITLE_FONT_SIZE], "Tf"),
           ([MARGIN, LETTER[1] - MARGIN - 20], "Td"), ([_shown(title)], "Tj"),
           ([Name.F1, LETTER_FONT_SIZE], "Tf"), ([LETTER_LEADING], "TL"), ([], "T*"),
           ([], "T*")]
    ops += [([_shown(line)], "'") for line in lines]
    ops += [([], "ET"), ([], "BT"), ([Name.F1, 8], "Tf"), ([MARGIN, MARGIN / 2], "Td"),
            ([_shown(count)], "Tj"), ([], "ET")]
    page.obj.Contents = pdf.make_stream(pikepdf.unparse_content_stream(
        [(operands, Operator(operator)) for operands, operator in ops]))


def _shown(text: str) -> pikepdf.String:
    # The standard font's encoding (WinAnsi): characters beyond it show as "?".
    return pikepdf.String(text.encode("cp1252", errors="replace"))
