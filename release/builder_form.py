"""The packet builder's form, read: the chosen documents with their page ranges, the
redaction boxes (drawn, typed or accepted from a term search) and the term. Every field is
checked here or by the services it feeds, so a bad field comes back as a 400 that names it;
the state is kept so the page can be shown again as the clerk left it.

Fields: ``document`` (each chosen id), ``pages-<id>`` (its range, "" for all), ``box`` (each
box as "document:page:x0,y0,x1,y1", fractions of the page image), the typed box
(``typed_document``, ``typed_page``, ``typed_left`` … ``typed_bottom`` in per cent of the
page), ``term`` and ``action`` (``show``, ``find`` or ``build``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from archive.errors import BadRequest
from release.packets import PacketDocument, Redaction
from release.page_ranges import MAX_RANGE_TEXT, parse_pages
from release.redaction import check_box

ACTIONS = ("show", "find", "build")
# ASCII digits only: str.isdigit() also takes "²", which int() refuses.
_NUMBER = re.compile(r"^[0-9]{1,12}$")
MAX_PAGE_NUMBER = 100_000
MAX_BOXES = 1000
TYPED_EDGES = ("left", "top", "right", "bottom")


@dataclass
class BuilderState:
    """What the clerk has chosen so far, as the page shows it again."""

    documents: list[int] = field(default_factory=list)
    pages: dict[int, str] = field(default_factory=dict)  # as typed
    boxes: list[Redaction] = field(default_factory=list)
    term: str = ""
    action: str = "show"

    def packet_documents(self) -> list[PacketDocument]:
        return [PacketDocument(document_id, self.pages.get(document_id, ""),
                               _pages_field(document_id))
                for document_id in self.documents]

    def chosen_pages(self) -> list[tuple[int, tuple[int, ...]]]:
        """(document id, its pages, () for all) for each chosen document."""
        return [(document_id, parse_pages(self.pages.get(document_id, ""),
                                          _pages_field(document_id)))
                for document_id in self.documents]


def _pages_field(document_id: int) -> str:
    return f"pages of document {document_id}"


def read_form(form: MultiDict) -> BuilderState:
    """The state the form carries; a 400 naming the first field that cannot be read."""
    state = BuilderState(action=form.get("action", "show"), term=form.get("term", "").strip())
    if state.action not in ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(ACTIONS)}.")
    state.documents = list(dict.fromkeys(_id(value, "document") for value in
                                         form.getlist("document")))
    for document_id in state.documents:
        pages = form.get(f"pages-{document_id}", "").strip()
        if len(pages) > MAX_RANGE_TEXT:
            raise BadRequest(f"pages of document {document_id}: at most {MAX_RANGE_TEXT} "
                             "characters.")
        state.pages[document_id] = pages
    values = form.getlist("box")
    if len(values) > MAX_BOXES:
        raise BadRequest(f"At most {MAX_BOXES} redaction boxes in one packet.")
    state.boxes = [_box(value, number) for number, value in enumerate(values, start=1)]
    typed = _typed_box(form)
    if typed is not None:
        state.boxes.append(typed)
    return state


def _id(value: str, name: str) -> int:
    if not _NUMBER.match(value.strip()):
        raise BadRequest(f"{name}: \"{value[:20]}\" is not a document number.")
    return int(value)


def _box(value: str, number: int) -> Redaction:
    """ "12:3:0.1,0.2,0.4,0.25" as a redaction, or a 400 naming box `number`."""
    where = f"redaction box {number}"
    parts = value.split(":")
    if len(parts) != 3:
        raise BadRequest(f"{where}: \"{value[:60]}\" must read document:page:x0,y0,x1,y1; "
                         "remove the box and draw it again.")
    document_id = _id(parts[0], f"{where} document")
    page = _page(parts[1], where)
    try:
        numbers = [float(piece) for piece in parts[2].split(",")]
    except ValueError:
        raise BadRequest(f"{where}: the box must be four numbers, x0,y0,x1,y1.") from None
    box = check_box(numbers, where)
    return Redaction(document_id, page, (box.x0, box.y0, box.x1, box.y1))


def _page(value: str, where: str) -> int:
    if not _NUMBER.match(value.strip()) or not 1 <= int(value) <= MAX_PAGE_NUMBER:
        raise BadRequest(f"{where}: the page must be a page number, 1 or more.")
    return int(value)


def _typed_box(form: MultiDict) -> Redaction | None:
    """The box typed in per cent, when the clerk filled its fields (left blank: none)."""
    edges = [form.get(f"typed_{edge}", "").strip() for edge in TYPED_EDGES]
    if not any(edges):
        return None
    where = "typed box"
    document_id = _id(form.get("typed_document", ""), f"{where} document")
    page = _page(form.get("typed_page", ""), where)
    try:
        numbers = [float(edge) / 100 for edge in edges]
    except ValueError:
        raise BadRequest(f"{where}: give left, top, right and bottom as per cent of the page "
                         "(0 to 100).") from None
    box = check_box(numbers, where)
    return Redaction(document_id, page, (box.x0, box.y0, box.x1, box.y1))
