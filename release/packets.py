"""Packets: the PDF released for a request, built from the latest versions of documents of
the request's patients, with redactions burned in, a cover letter and a stamp on every page
(release.packet_pdf). A document comes whole or as chosen pages ("1-3,7",
release.page_ranges). Each packet is stored as a checksummed object under
releases/<request>/packet-<n>.pdf, recorded on the request and audited; backup replicates it
like any stored object (stored_packets, relocate_packets)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from archive.auth.permissions import Principal, require
from archive.auth.restricted import require_chart_access
from archive.db import relocate_rows
from archive.errors import BadRequest, NotFound
from archive.interfaces import Relocation
from archive.models import Document
from archive.records.reading import get_document
from ingest.ocr import pdf as ocr_pdf
from ingest.ocr import raster, sources
from release.amendments import amendment_materials
from release.authorizations import require_valid_authorization
from release.packet_models import ReleasePacket
from release.packet_pdf import Letter, Part, assemble
from release.page_ranges import check_pages, describe_pages, parse_pages
from release.redaction import Box, check_box
from release.requests import MANAGE, VIEW, audit_request, get_request
from release.workflow import OPEN, TransitionRefused

IMAGE_DPI = 200  # for image originals without a resolution of their own


@dataclass(frozen=True)
class Redaction:
    document_id: int
    page: int  # 1-based
    box: Sequence[float]  # [x0, y0, x1, y1], fractions of the page as shown


@dataclass(frozen=True)
class PacketDocument:
    """A document of the packet with the pages to release ("1-3,7"; "" for all of them).
    `field` names the pages in a 400 as the caller's form does (the API: documents[i].pages)."""

    id: int
    pages: str = ""
    field: str = ""


@dataclass(frozen=True)
class _Asked:
    """A document as asked for: its id, the chosen pages (() for all), and its place in the
    request, to name it in a 400."""

    document_id: int
    pages: tuple[int, ...]
    where: str


@dataclass(frozen=True)
class _Chosen:
    """A document's latest version, as read in the transaction that checked it."""

    document_id: int
    version: int
    object_key: str
    store_version_id: str
    sha256: str
    media_type: str
    description: str
    asked: _Asked


def build_packet(ext, principal: Principal, request_id: int,
                 documents: Sequence[int | PacketDocument],
                 redactions: Sequence[Redaction] = ()) -> ReleasePacket:
    """Build, store and record a packet of `documents` (ids, or PacketDocuments naming
    pages). Everything is checked before anything is stored: a 400 leaves no packet."""
    require(principal, MANAGE)
    if not documents:
        raise BadRequest("documents: choose at least one document for the packet.")
    asked = _asked_documents(documents)
    boxes = _checked_boxes(redactions, asked)
    with ext.db.transaction() as session:
        chosen = _chosen_documents(session, principal, request_id, asked)
        row = get_request(session, request_id)
        letter = Letter(request_id=row.id, recipient=row.requester_name,
                        address=row.requester_address, released=date.today(),
                        purpose=row.purpose)
        number = _packets_of(session, request_id) + 1
    with tempfile.TemporaryDirectory(prefix="packet-") as folder:
        workdir = Path(folder)
        parts = [_part(ext, item, boxes.get(item.document_id, {}), workdir)
                 for item in chosen]
        out = workdir / "packet.pdf"
        pages = assemble(parts, letter, out, workdir)
        with out.open("rb") as stream:
            stored = ext.store.put(f"releases/{request_id}/packet-{number}.pdf", stream,
                                   media_type="application/pdf", length=out.stat().st_size)
    return _record(ext, principal, request_id, stored, pages, chosen, parts, redactions)


def _asked_documents(documents: Sequence[int | PacketDocument]) -> list[_Asked]:
    """Each document once, with its chosen pages parsed; a document listed twice with
    different pages is a 400 (which of the two was meant?)."""
    asked: dict[int, _Asked] = {}
    for index, item in enumerate(documents):
        where = f"documents[{index}]"
        if isinstance(item, PacketDocument):
            field = item.field or f"{where}.pages"
            one = _Asked(item.id, parse_pages(item.pages, field), field)
        else:
            one = _Asked(item, (), where)
        earlier = asked.setdefault(one.document_id, one)
        if earlier.pages != one.pages:
            raise BadRequest(f"{where}: document {one.document_id} is listed twice with "
                             "different pages; list it once with all the pages to release.")
    return list(asked.values())


def _checked_boxes(redactions: Sequence[Redaction],
                   asked: list[_Asked]) -> dict[int, dict[int, list[Box]]]:
    """The boxes by document and page; a 400 naming the first bad redaction."""
    chosen_pages = {item.document_id: item.pages for item in asked}
    boxes: dict[int, dict[int, list[Box]]] = {}
    for index, redaction in enumerate(redactions):
        where = f"redactions[{index}]"
        if redaction.document_id not in chosen_pages:
            raise BadRequest(f"{where}.document_id: document {redaction.document_id} is not "
                             "one of the packet's documents.")
        if redaction.page < 1:
            raise BadRequest(f"{where}.page: pages are numbered from 1.")
        pages = chosen_pages[redaction.document_id]
        if pages and redaction.page not in pages:
            raise BadRequest(f"{where}.page: page {redaction.page} of document "
                             f"{redaction.document_id} is not among its chosen pages "
                             f"({describe_pages(pages)}); choose the page or drop the box.")
        box = check_box(redaction.box, f"{where}.box")
        boxes.setdefault(redaction.document_id, {}).setdefault(redaction.page, []).append(box)
    return boxes


def _chosen_documents(session: Session, principal: Principal, request_id: int,
                      asked: list[_Asked]) -> list[_Chosen]:
    request = get_request(session, request_id)
    if request.status not in OPEN:
        raise TransitionRefused(f"Request {request_id} is {request.status}: a packet is "
                                "built only while the request is open.")
    require_valid_authorization(session, request, date.today())
    patient_ids = {patient.id for patient in request.patients}
    document_ids = [item.document_id for item in asked]
    found = dict(session.execute(select(Document.id, Document.patient_id)
                                 .where(Document.id.in_(document_ids))).all())
    outside = [i for i in document_ids if found.get(i) not in patient_ids]
    if outside:
        raise BadRequest(f"documents: {', '.join(map(str, outside))} are not documents of "
                         "the request's patients.")
    chosen = []
    for item, note in _with_amendment_materials(session, asked):
        document_id = item.document_id
        document = get_document(session, document_id)
        # Building a packet reads the chart: a restricted one needs the glass broken.
        require_chart_access(session, principal, document.patient, document_id=document_id)
        version = document.latest_version
        chosen.append(_Chosen(
            document_id, version.number, version.object_key, version.store_version_id,
            version.sha256, version.media_type,
            f"Document {document_id}: {document.doc_type.replace('_', ' ')}"
            + (f", {document.date_of_service.isoformat()}" if document.date_of_service else "")
            + (f" \u2014 {note}" if note else ""),
            item))
    return chosen


def _with_amendment_materials(session: Session,
                              asked: list[_Asked]) -> list[tuple[_Asked, str]]:
    """The chosen documents, each followed (whole) by what was filed about it under
    45 CFR 164.526 (its amendment, or the denial, disagreement and rebuttal), which must go
    with it whenever it is released; with a note saying what each of those is."""
    chosen_ids = {item.document_id for item in asked}
    ordered: list[tuple[_Asked, str]] = []
    for item in asked:
        ordered.append((item, ""))
        # One the clerk chose as well comes where they put it, once.
        ordered += [(_Asked(material, (), ""), note) for material, note
                    in amendment_materials(session, item.document_id)
                    if material not in chosen_ids]
    return ordered


def _packets_of(session: Session, request_id: int) -> int:
    return session.scalar(select(func.count()).select_from(ReleasePacket)
                          .where(ReleasePacket.request_id == request_id)) or 0


def _part(ext, item: _Chosen, boxes: dict[int, list[Box]], workdir: Path) -> Part:
    """The original, verified against its checksum as it is copied out, as a PDF."""
    original = workdir / f"original-{item.document_id}"
    with original.open("wb") as out:
        for chunk in ext.store.open(item.object_key, item.store_version_id,
                                    expected_sha256=item.sha256):
            out.write(chunk)
    pdf = original if item.media_type == sources.PDF else _image_as_pdf(original, item, workdir)
    count = raster.page_count(pdf, sources.PDF)
    check_pages(item.asked.pages, count, item.asked.where, item.document_id)
    beyond = [page for page in boxes if page > count]
    if beyond:
        raise BadRequest(f"redactions: document {item.document_id} has {count} page"
                         f"{'s' if count != 1 else ''}; there is no page {beyond[0]}.")
    description = item.description
    if item.asked.pages:
        description += f", pages {describe_pages(item.asked.pages)}"
    return Part(pdf=pdf, description=description, redactions=boxes,
                pages=item.asked.pages or tuple(range(1, count + 1)))


def _image_as_pdf(original: Path, item: _Chosen, workdir: Path) -> Path:
    """An image original (TIFF, PNG, JPEG) as a PDF, each frame pixel for pixel."""
    count = raster.page_count(original, item.media_type)
    pages = [ocr_pdf.image_page_pdf(original, item.media_type, number, IMAGE_DPI,
                                    workdir / f"image-{item.document_id}-{number}.pdf")
             for number in range(1, count + 1)]
    return ocr_pdf.concatenate_pdfs(pages, workdir / f"original-{item.document_id}.pdf")


def _record(ext, principal: Principal, request_id: int, stored, pages: int,
            chosen: list[_Chosen], parts: list[Part],
            redactions: Sequence[Redaction]) -> ReleasePacket:
    with ext.db.transaction() as session:
        row = get_request(session, request_id)
        packet = ReleasePacket(
            request_id=request_id, number=_packets_of(session, request_id) + 1,
            object_key=stored.key, store_version_id=stored.version_id, sha256=stored.sha256,
            size=stored.size, pages=pages,
            contents=[{"document_id": c.document_id, "version": c.version,
                       "pages": list(part.pages)}
                      for c, part in zip(chosen, parts, strict=True)],
            redactions=[{"document_id": r.document_id, "page": r.page, "box": list(r.box)}
                        for r in redactions],
            created_by=principal.username)
        session.add(packet)
        session.flush()
        audit_request(session, principal, row, "request.packet",
               details={"packet": packet.id, "pages": pages, "sha256": stored.sha256,
                        "documents": packet.contents, "redactions": len(redactions)})
        return packet


def latest_packet(session: Session, request_id: int) -> ReleasePacket:
    packet = session.scalar(select(ReleasePacket).where(ReleasePacket.request_id == request_id)
                            .order_by(ReleasePacket.id.desc()).limit(1))
    if packet is None:
        raise NotFound(f"Request {request_id} has no packet yet.")
    return packet


def open_packet(ext, principal: Principal, request_id: int):
    """The latest packet's row and its bytes, verified as they stream; the download is
    audited. Reading it reads the charts in it, so restricted charts' rules apply."""
    require(principal, VIEW)
    with ext.db.transaction() as session:
        row = get_request(session, request_id)
        for patient in row.patients:
            require_chart_access(session, principal, patient)
        packet = latest_packet(session, request_id)
        audit_request(session, principal, row, "request.packet_download",
               details={"packet": packet.id, "sha256": packet.sha256})
    chunks = ext.store.open(packet.object_key, packet.store_version_id,
                            expected_sha256=packet.sha256)
    return packet, chunks


# --- packets are stored objects too (Archive.object_sources, object_relocators) ------------


def stored_packets():
    """Every stored packet, for replication and the scrub."""
    return select(
        ReleasePacket.object_key.label("key"),
        ReleasePacket.store_version_id.label("version_id"),
        ReleasePacket.sha256.label("sha256"),
        ReleasePacket.size.label("size"),
        ReleasePacket.created_at.label("stored_at"),
        literal("packet").label("kind"),
    )


def relocate_packets(session: Session, moves: Sequence[Relocation]) -> None:
    """Packets stored again under new version ids (a repair, a restore)."""
    relocate_rows(session, ReleasePacket.__table__.c.object_key,
                  ReleasePacket.__table__.c.store_version_id, moves)

