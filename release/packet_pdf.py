"""Assembling a packet PDF: a cover letter, then the chosen documents' pages, and a stamp on
every page.

Pages without redactions are copied from the stored originals with pikepdf, objects and all:
their image streams reach the packet byte for byte, never decoded or re-encoded. A redacted
page is replaced by its burned image (release.redaction). The stamp and footer are a short
content stream in a standard font added around each page's own content, so no page is
drawn again to stamp it."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pikepdf
from pikepdf import Dictionary, Name, Operator

from ingest.ocr.pdf import concatenate_pdfs
from release.redaction import Box, redacted_page

LETTER = (612, 792)  # points
MARGIN = 54
LETTER_FONT_SIZE = 10.5
LETTER_LEADING = 14
LETTER_WIDTH = 95  # characters of Helvetica 10.5 on a letter page between the margins
LETTER_LINES = 48  # lines on one page of the cover letter
STAMP_FONT_SIZE = 7


@dataclass(frozen=True)
class Part:
    """One document of the packet: its original as a PDF, the boxes per page (1-based), and
    the pages released, ascending (() for all of them)."""

    pdf: Path
    description: str  # for the cover letter, e.g. "Document 12: discharge summary, 2024-03-01"
    redactions: dict[int, list[Box]] = field(default_factory=dict)
    pages: tuple[int, ...] = ()


@dataclass(frozen=True)
class Letter:
    request_id: int
    recipient: str
    address: str
    released: date
    purpose: str = ""


def assemble(parts: Sequence[Part], letter: Letter, out: Path, workdir: Path) -> int:
    """Write the packet to `out`; returns its number of pages, cover letter included.

    Each document is stamped in a file of its own, then qpdf joins the files: it reads a
    page's streams only while writing it, so memory stays flat in the packet's size."""
    counts = [len(part.pages) or _page_count(part.pdf) for part in parts]
    cover = cover_lines(parts, counts, letter, sum(counts))
    total = sum(counts) + len(cover)
    files = [_cover_file(cover, letter, total, workdir / "cover.pdf")]
    first = len(cover) + 1
    for index, (part, count) in enumerate(zip(parts, counts, strict=True)):
        files.append(_part_file(part, letter, first, total, workdir, index))
        first += count
    concatenate_pdfs(files, out)
    return total


def _page_count(pdf: Path) -> int:
    with pikepdf.open(pdf) as document:
        return len(document.pages)


def _cover_file(cover: list[list[str]], letter: Letter, total: int, out: Path) -> Path:
    with pikepdf.new() as packet:
        font = packet.make_indirect(helvetica())
        for number, lines in enumerate(cover, start=1):
            page = _letter_page(packet, font, lines)
            stamp(packet, page, font, _stamp_lines(letter, number, total))
        packet.save(out, deterministic_id=True)
    return out


def _part_file(part: Part, letter: Letter, first: int, total: int, workdir: Path,
               index: int) -> Path:
    """The document's pages stamped (and its redacted pages replaced) in a file of its own.
    Streams are saved as they are stored (no decoding, no recompression): the copied
    pages' images stay byte-identical to the original's."""
    out = workdir / f"part-{index}.pdf"
    with ExitStack() as stack:
        original = stack.enter_context(pikepdf.open(part.pdf))
        font = original.make_indirect(helvetica())
        for number in sorted(part.redactions):
            burned = workdir / f"burned-{index}-{number}.pdf"
            burned.write_bytes(redacted_page(part.pdf, number, part.redactions[number],
                                             workdir))
            image_page = stack.enter_context(pikepdf.open(burned)).pages[0]
            # The original page leaves the file: its text and annotations are no longer
            # reachable, and qpdf writes only what is reachable.
            original.pages.insert(number - 1, image_page)
            del original.pages[number]
        _keep_only(original, part.pages)
        for offset, page in enumerate(original.pages):
            stamp(original, page, font, _stamp_lines(letter, first + offset, total))
        original.save(out, compress_streams=False,
                      stream_decode_level=pikepdf.StreamDecodeLevel.none,
                      deterministic_id=True)
    return out


def _keep_only(pdf: pikepdf.Pdf, pages: tuple[int, ...]) -> None:
    """Drop the pages not chosen (numbers 1-based, () keeps all). From the last one back, so
    the numbers of those still to drop do not move; a dropped page's objects become
    unreachable and are not written."""
    if not pages:
        return
    chosen = set(pages)
    for number in range(len(pdf.pages), 0, -1):
        if number not in chosen:
            del pdf.pages[number - 1]


def helvetica() -> Dictionary:
    # WinAnsiEncoding: the one standard encoding with the em dash and accented names.
    return Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica,
                      Encoding=Name.WinAnsiEncoding)


def cover_lines(parts: Sequence[Part], counts: Sequence[int], letter: Letter,
                body_pages: int) -> list[list[str]]:
    """The cover letter's lines, cut into pages (a long enclosure list runs on)."""
    lines = ["Release of information", "", f"Request {letter.request_id}",
             f"Date of release: {letter.released.isoformat()}", "", f"To: {letter.recipient}",
             *letter.address.splitlines()]
    if letter.purpose:
        lines += ["", *textwrap.wrap(f"Purpose: {letter.purpose}", LETTER_WIDTH)]
    enclosed = [f"{part.description} ({count} page{'s' if count != 1 else ''}"
                + (f"; redacted: page {', '.join(map(str, sorted(part.redactions)))})"
                   if part.redactions else ")")
                for part, count in zip(parts, counts, strict=True)]
    lines += ["", f"Enclosed: {len(parts)} document{'s' if len(parts) != 1 else ''}.",
              *(wrapped for item in enclosed
                for wrapped in textwrap.wrap(item, LETTER_WIDTH, initial_indent="- ",
                                             subsequent_indent="  ")),
              "", *textwrap.wrap("Redacted regions are blacked out on an image of the page; "
                                 "the information under them has been removed.", LETTER_WIDTH)]
    pages = [lines[i:i + LETTER_LINES] for i in range(0, len(lines), LETTER_LINES)]
    count_line = f"Total: {body_pages + len(pages)} pages, this letter included."
    if len(pages[-1]) + 2 > LETTER_LINES:
        pages.append([])
    pages[-1] += ["", count_line]
    return pages


def _letter_page(packet: pikepdf.Pdf, font, lines: Sequence[str]) -> pikepdf.Page:
    page = packet.add_blank_page(page_size=LETTER)
    page.obj.Resources = Dictionary(Font=Dictionary(F1=font))
    ops = [([], "BT"), ([Name.F1, LETTER_FONT_SIZE], "Tf"), ([LETTER_LEADING], "TL"),
           ([MARGIN, LETTER[1] - MARGIN - 36], "Td")]
    ops += [([_shown(line)], "'") for line in lines]
    ops.append(([], "ET"))
    page.obj.Contents = packet.make_stream(_unparse(ops))
    return page


def _stamp_lines(letter: Letter, number: int, total: int) -> tuple[str, str]:
    return (f"Request {letter.request_id} \u2014 page {number} of {total}",
            f"Released to {letter.recipient} on {letter.released.isoformat()}")


def stamp(packet: pikepdf.Pdf, page: pikepdf.Page, font, lines: tuple[str, str]) -> None:
    """Add the header line at the top left and the footer at the bottom left of the page as
    shown, drawn after the page's own content in a saved and restored graphics state."""
    name = _add_font(page, font)
    box = [float(v) for v in page.cropbox]
    _, height, matrix = _shown_frame(box, int(page.obj.get(Name.Rotate, 0)) % 360)
    header, footer = lines
    ops = [([], "Q"), ([], "q"), (matrix, "cm"), ([], "BT"), ([name, STAMP_FONT_SIZE], "Tf"),
           ([1, 0, 0, 1, 18, height - 14], "Tm"), ([_shown(header)], "Tj"),
           ([1, 0, 0, 1, 18, 8], "Tm"), ([_shown(footer)], "Tj"), ([], "ET"), ([], "Q")]
    # The page's content may leave its graphics state changed (a transform, a colour): the
    # q before and Q after it put the stamp back in the default state.
    page.contents_add(packet.make_stream(b"q\n"), prepend=True)
    page.contents_add(packet.make_stream(_unparse(ops)))


def _add_font(page: pikepdf.Page, font) -> Name:
    """Give the page the stamp's font under a name its resources do not use yet. The page
    gets resource dictionaries of its own (shallow copies): pages often share one, or
    inherit it from the page tree, and the others must not change with this page."""
    node, found = page.obj, None
    while found is None and node is not None:
        found, node = node.get(Name.Resources), node.get(Name.Parent)
    resources = Dictionary(dict(found.items())) if found is not None else Dictionary()
    fonts = resources.get(Name.Font)
    fonts = Dictionary(dict(fonts.items())) if fonts is not None else Dictionary()
    name, n = "/CVStamp", 0
    while name in fonts:
        n += 1
        name = f"/CVStamp{n}"
    fonts[name] = font
    resources.Font = fonts
    page.obj.Resources = resources
    return Name(name)


def _shown_frame(box: list[float], rotate: int) -> tuple[float, float, list[float]]:
    """The page's size as shown and the matrix from shown coordinates (origin bottom left of
    the page as displayed) to the page's own, for a /Rotate of 0, 90, 180 or 270."""
    llx, lly, urx, ury = box
    width, height = urx - llx, ury - lly
    if rotate == 90:
        return height, width, [0, 1, -1, 0, urx, lly]
    if rotate == 180:
        return width, height, [-1, 0, 0, -1, urx, ury]
    if rotate == 270:
        return height, width, [0, -1, 1, 0, llx, ury]
    return width, height, [1, 0, 0, 1, llx, lly]


def _shown(text: str) -> pikepdf.String:
    return pikepdf.String(text.encode("cp1252", errors="replace"))


def _unparse(ops) -> bytes:
    return pikepdf.unparse_content_stream(
        [(list(operands), Operator(operator)) for operands, operator in ops])

