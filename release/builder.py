"""What the web packet builder needs beside release.packets: the documents a request may
release (those of its patients, with their read pages), and the boxes of a term's words on
the chosen pages, proposed for redaction.

The builder's boxes are fractions of the page image the clerk sees. That image is the page
turned upright for reading (archive.models.Page.rotation), while release.packets burns boxes
on the page as the original shows it: shown_redactions turns them back before the build."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.auth.permissions import Principal, require
from archive.auth.restricted import require_chart_access
from archive.errors import BadRequest
from archive.models import Document, Page
from release.models import ReleaseRequest
from release.packet_models import ReleasePacket
from release.packets import Redaction
from release.requests import MANAGE, audit_request, get_request

# The same word runs the search index makes words of ("x-ray" is "x" and "ray").
_WORD = re.compile(r"[^\W_]+")
# Around each word box, in page-image pixels: OCR boxes hug the ink, and a descender or an
# accent just outside one would still say what the word was.
WORD_PADDING = 4
MAX_TERM = 100


@dataclass(frozen=True)
class ShownPage:
    number: int
    width: int
    height: int
    rotation: int


@dataclass(frozen=True)
class DocumentChoice:
    """A document the packet may hold: its latest version and its pages as read so far."""

    id: int
    doc_type: str
    date_of_service: date | None
    status: str
    version: int
    pages: tuple[ShownPage, ...]


@dataclass(frozen=True)
class Proposal:
    """A word box proposed for redaction: fractions of the page image."""

    document_id: int
    page: int
    word: str
    box: tuple[float, float, float, float]


def packet_choices(session: Session, principal: Principal,
                   request_id: int) -> tuple[ReleaseRequest, list[DocumentChoice]]:
    """The request and its patients' documents, oldest first. Listing them reads the charts:
    a restricted one needs the glass broken (as the viewer asks), and the listing is
    audited on the request."""
    require(principal, MANAGE)
    row = get_request(session, request_id)
    for patient in row.patients:
        require_chart_access(session, principal, patient)
    documents = session.scalars(
        select(Document).where(Document.patient_id.in_([p.id for p in row.patients]))
        .order_by(Document.date_of_service, Document.id)).all()
    choices = [_choice(document) for document in documents]
    audit_request(session, principal, row, "request.packet_builder",
                  details={"documents": [choice.id for choice in choices]})
    return row, choices


def _choice(document: Document) -> DocumentChoice:
    version = document.latest_version
    return DocumentChoice(
        id=document.id, doc_type=document.doc_type, date_of_service=document.date_of_service,
        status=document.status, version=version.number,
        pages=tuple(ShownPage(page.number, page.width or 850, page.height or 1100,
                              page.rotation or 0) for page in version.pages))


def request_packets(session: Session, request_id: int) -> list[ReleasePacket]:
    """The request's packets, newest first (the newest is the one released)."""
    return list(session.scalars(select(ReleasePacket)
                                .where(ReleasePacket.request_id == request_id)
                                .order_by(ReleasePacket.id.desc())))


def term_proposals(session: Session, principal: Principal, request_id: int, term: str,
                   chosen: Sequence[tuple[int, tuple[int, ...]]]) -> list[Proposal]:
    """The boxes of `term`'s words on the chosen pages ((document id, pages), () for all) of
    documents of the request, from the OCR's word boxes, in page order. A term of several
    words is found where its words follow each other."""
    require(principal, MANAGE)
    words = [word.lower() for word in _WORD.findall(term or "")]
    if not words or len(term) > MAX_TERM:
        raise BadRequest(f"term: give a word or a few words to find (at most {MAX_TERM} "
                         "characters), such as a name to black out.")
    row = get_request(session, request_id)
    allowed = {patient.id for patient in row.patients}
    proposals: list[Proposal] = []
    for document_id, pages in chosen:
        document = session.get(Document, document_id)
        if document is None or document.patient_id not in allowed:
            raise BadRequest(f"documents: {document_id} is not a document of the request's "
                             "patients.")
        require_chart_access(session, principal, document.patient, document_id=document_id)
        for page in document.latest_version.pages:
            if not pages or page.number in pages:
                proposals += _page_proposals(document_id, page, words)
    audit_request(session, principal, row, "request.packet_term_search",
                  details={"term": term, "documents": [item[0] for item in chosen],
                           "found": len(proposals)})
    return proposals


def _page_proposals(document_id: int, page: Page, words: list[str]) -> list[Proposal]:
    """One proposal per OCR word box that is part of an occurrence of `words`."""
    boxes = page.words or []
    # Each word box as index words, so "Zanzibar," and "x-ray" compare as the index does.
    tokens = [(index, token) for index, box in enumerate(boxes)
              for token in (t.lower() for t in _WORD.findall(str(box[0])))]
    hits: set[int] = set()
    for start in range(len(tokens) - len(words) + 1):
        if [token for _, token in tokens[start:start + len(words)]] == words:
            hits.update(index for index, _ in tokens[start:start + len(words)])
    width, height = page.width or 1, page.height or 1
    return [Proposal(document_id, page.number, str(boxes[index][0]),
                     _padded(boxes[index][2:6], width, height))
            for index in sorted(hits)]


def shown_redactions(session: Session, drawn: Sequence[Redaction]) -> list[Redaction]:
    """Boxes drawn on page images as boxes of the pages as shown, for release.packets. A
    page not read yet has no image to draw on, so its boxes are taken as they are."""
    turns = {}
    for document_id in {item.document_id for item in drawn}:
        document = session.get(Document, document_id)
        if document is not None:
            turns.update({(document_id, page.number): page.rotation or 0
                          for page in document.latest_version.pages})
    return [Redaction(item.document_id, item.page,
                      shown_box(item.box, turns.get((item.document_id, item.page), 0)))
            for item in drawn]


def _padded(pixels: Sequence[int], width: int, height: int) -> tuple[float, ...]:
    left, top, box_width, box_height = (float(v) for v in pixels)
    return (max(0.0, (left - WORD_PADDING) / width), max(0.0, (top - WORD_PADDING) / height),
            min(1.0, (left + box_width + WORD_PADDING) / width),
            min(1.0, (top + box_height + WORD_PADDING) / height))


def shown_box(box: Sequence[float], rotation: int) -> tuple[float, float, float, float]:
    """A box drawn on the page image, turned `rotation` degrees clockwise from the page as
    shown, as a box of the page as shown (what release.redaction burns)."""
    x0, y0, x1, y1 = box
    corners = [_unturned(x, y, rotation % 360) for x, y in ((x0, y0), (x1, y1))]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    return (round(min(xs), 6), round(min(ys), 6), round(max(xs), 6), round(max(ys), 6))


def _unturned(u: float, v: float, rotation: int) -> tuple[float, float]:
    # Turning clockwise takes (x, y) to (1 - y, x) for 90, (1 - x, 1 - y) for 180 and
    # (y, 1 - x) for 270; these are the inverses.
    if rotation == 90:
        return v, 1 - u
    if rotation == 180:
        return 1 - u, 1 - v
    if rotation == 270:
        return 1 - v, u
    return u, v
