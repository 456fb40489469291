"""Page ranges of a packet's documents, written as a clerk writes them on a request form
("1-3,7"): parsed, checked against the document's page count, and written back shortly for
the cover letter ("pages 1-3, 7"). Every refusal is a 400 naming the field and the fix."""

from __future__ import annotations

import re

from archive.errors import BadRequest

# One piece of a range list: "7" or "1-3" (spaces around the numbers are forgiven).
_PIECE = re.compile(r"^\s*(\d{1,6})\s*(?:-\s*(\d{1,6})\s*)?$")
MAX_RANGE_TEXT = 200
MAX_PAGE = 100_000  # as the API bounds a redaction's page


def parse_pages(text: str, where: str) -> tuple[int, ...]:
    """The page numbers `text` names, ascending and without repeats; () for all pages.
    A 400 naming `where` (e.g. "documents[1].pages") when it cannot be read."""
    text = (text or "").strip()
    if not text:
        return ()
    if len(text) > MAX_RANGE_TEXT:
        raise BadRequest(f"{where}: at most {MAX_RANGE_TEXT} characters; give ranges such as "
                         "\"1-3,7\" rather than every page.")
    pages: set[int] = set()
    for piece in text.split(","):
        pages.update(_piece_pages(piece, where))
    return tuple(sorted(pages))


def _piece_pages(piece: str, where: str) -> range:
    match = _PIECE.match(piece)
    if match is None:
        raise BadRequest(f"{where}: \"{piece.strip()}\" is not a page or a range; write pages "
                         "and ranges separated by commas, such as \"1-3,7\".")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if first < 1:
        raise BadRequest(f"{where}: pages are numbered from 1.")
    if last > MAX_PAGE:
        raise BadRequest(f"{where}: page {last} is beyond any document's last page "
                         f"(at most {MAX_PAGE}).")
    if last < first:
        raise BadRequest(f"{where}: the range \"{piece.strip()}\" runs backwards; write the "
                         f"lower page first ({last}-{first}).")
    return range(first, last + 1)


def check_pages(pages: tuple[int, ...], count: int, where: str, document_id: int) -> None:
    """A 400 when a chosen page lies beyond the document's last page."""
    beyond = [page for page in pages if page > count]
    if beyond:
        raise BadRequest(f"{where}: document {document_id} has {count} "
                         f"page{'s' if count != 1 else ''}; there is no page {beyond[0]}.")


def describe_pages(pages: tuple[int, ...]) -> str:
    """(1, 2, 3, 7) as "1-3, 7": consecutive pages joined into ranges."""
    runs: list[list[int]] = []
    for page in pages:
        if runs and page == runs[-1][-1] + 1:
            runs[-1].append(page)
        else:
            runs.append([page])
    return ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)
