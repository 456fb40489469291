"""Packets (issue 18 item 2) through POST /api/v1/requests/<id>/packet and GET .../packet.pdf:
redaction that leaves the word in neither the text nor the pixels, unredacted pages copied
byte for byte, the stamp on every page, the stored object, the 400s, and who may call them.

The OCR test runs on SQLite only: the database plays no part in what it proves, and OCR is
the slowest thing here."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess

import pikepdf
import pytest

from ingest.ocr import programs
from release.packets import stored_packets
from tests.release.conftest import audit_events
from tests.search.charts import text_pdf

SEEN, HIDDEN = "pneumonia", "Zanzibar"  # an unredacted word, and the one redacted


@pytest.fixture
def chart(filed):
    """Two documents of the patient: a text-layer note naming both words on one page, and a
    two-page scan (JPEG images)."""
    note = filed(data=text_pdf([f"Diagnosis: {SEEN} resolved", "", "",
                                f"Travel: {HIDDEN} last spring"]), doc_type="progress_note")
    scan = filed(lines=("DISCHARGE SUMMARY",))
    return {"note": note.document_id, "scan": scan.document_id}


@pytest.fixture
def request_id(log_request):
    return log_request().json["id"]


def post_packet(client, people, request_id, body, role="staff"):
    return client.post(f"/api/v1/requests/{request_id}/packet", json=body,
                       headers=people.headers(role))


def word_box(pdf: bytes, word: str, tmp_path) -> list[float]:
    """The word's box on page 1 as fractions of the page, padded by 2 points, from
    pdftotext's word positions (as a search for the term would give it)."""
    path = tmp_path / "words.pdf"
    path.write_bytes(pdf)
    xhtml = programs.pdf_page_words_xhtml(path, 1)
    width, height = (float(v) for v in re.search(
        r'<page width="([\d.]+)" height="([\d.]+)"', xhtml).groups())
    x0, y0, x1, y1 = (float(v) for v in re.search(
        rf'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">{word}</word>',
        xhtml).groups())
    return [(x0 - 2) / width, (y0 - 2) / height, (x1 + 2) / width, (y1 + 2) / height]


def download(client, people, request_id, role="staff"):
    return client.get(f"/api/v1/requests/{request_id}/packet.pdf", headers=people.headers(role))


def page_text(pdf: bytes, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", *pages, "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def original_bytes(ext, document_id: int) -> bytes:
    from archive.records.reading import get_document

    with ext.db.transaction() as session:
        version = get_document(session, document_id).latest_version
        key, version_id = version.object_key, version.store_version_id
    return b"".join(ext.store.open(key, version_id))


def raw_images(page: pikepdf.Page) -> list[bytes]:
    return [image.read_raw_bytes() for image in page.get_images().values()]


@pytest.mark.parametrize("database_template", ["sqlite"], indirect=True)
def test_a_redacted_word_is_gone_from_text_and_pixels_while_the_rest_reads(
        client, people, ext, chart, request_id, tmp_path):
    note = original_bytes(ext, chart["note"])
    box = word_box(note, HIDDEN, tmp_path)
    made = post_packet(client, people, request_id, {
        "documents": [chart["note"]],
        "redactions": [{"document_id": chart["note"], "page": 1, "box": box}]})
    assert made.status_code == 201, made.json
    packet = download(client, people, request_id).data
    assert HIDDEN not in page_text(packet)
    assert SEEN not in page_text(packet, 2)  # the page is an image now: no text layer at all
    # What a reader sees: the packet's page drawn and read by the OCR.
    packet_path = tmp_path / "packet.pdf"
    packet_path.write_bytes(packet)
    image = programs.render_pdf_page(packet_path, 2, 150, tmp_path / "page.pgm")
    tsv = programs.tesseract_recognise(image, 150, tmp_path / "ocr", text_layer=False)
    read = [row.split("\t")[-1].lower() for row in tsv.splitlines()[1:]]
    assert SEEN in read
    assert not [word for word in read if HIDDEN.lower() in word]
    assert "spring" in read  # the redaction took the word, not its line


def test_unredacted_pages_keep_the_originals_image_streams(client, people, ext, chart,
                                                           request_id):
    made = post_packet(client, people, request_id, {"documents": [chart["scan"]]})
    assert made.status_code == 201, made.json
    with pikepdf.open(io.BytesIO(original_bytes(ext, chart["scan"]))) as original, \
            pikepdf.open(io.BytesIO(download(client, people, request_id).data)) as packet:
        assert len(packet.pages) == 1 + len(original.pages)
        for number, page in enumerate(original.pages, start=1):
            assert raw_images(page), "the scan's page has an image"
            assert raw_images(packet.pages[number]) == raw_images(page)


def test_every_page_is_stamped_and_the_cover_letter_says_what_is_enclosed(
        client, people, chart, request_id):
    made = post_packet(client, people, request_id, {"documents": [chart["scan"], chart["note"]]})
    assert made.json["pages"] == 3
    packet = download(client, people, request_id).data
    for number in (1, 2, 3):
        text = page_text(packet, number)
        assert f"Request {request_id} \u2014 page {number} of 3" in text
        assert "Released to DOE, JANE on" in text
    cover = page_text(packet, 1)
    assert f"Document {chart['scan']}: discharge summary (1 page)" in cover
    assert "Total: 3 pages" in cover


def test_the_packet_is_a_stored_object_whose_checksum_matches_the_download(
        client, people, ext, chart, request_id):
    made = post_packet(client, people, request_id, {"documents": [chart["scan"]]}).json
    assert made["link"] == f"/api/v1/requests/{request_id}/packet.pdf"
    got = download(client, people, request_id, role="compliance")
    assert got.status_code == 200
    assert got.mimetype == "application/pdf"
    assert hashlib.sha256(got.data).hexdigest() == made["sha256"]
    with ext.db.transaction() as session:
        [row] = session.execute(stored_packets()).all()
    assert row.key == f"releases/{request_id}/packet-1.pdf"
    assert row.sha256 == made["sha256"] and row.kind == "packet"
    assert stored_packets in ext.object_sources  # so backup replicates it
    [built] = audit_events(ext, "request.packet", request_id)
    assert built.details["sha256"] == made["sha256"]
    assert audit_events(ext, "request.packet_download", request_id)
    # A second packet is the one downloaded from then on.
    again = post_packet(client, people, request_id, {"documents": [chart["note"]]}).json
    assert again["id"] != made["id"]
    assert hashlib.sha256(download(client, people, request_id).data).hexdigest() == \
        again["sha256"]


def test_no_packet_yet_is_a_404(client, people, request_id):
    assert download(client, people, request_id).status_code == 404


@pytest.mark.parametrize(("redaction", "named"), [
    ({"page": 1, "box": [0.1, 0.1, 1.2, 0.2]}, "redactions[0].box"),
    ({"page": 1, "box": [0.5, 0.1, 0.5, 0.2]}, "redactions[0].box"),
    ({"page": 1, "box": [0.1, 0.3, 0.2, 0.2]}, "redactions[0].box"),
    ({"page": 9, "box": [0.1, 0.1, 0.2, 0.2]}, "there is no page 9"),
    ({"page": 1, "box": [0.1, 0.1, 0.2, 0.2], "document_id": 999}, "redactions[0].document_id"),
])
def test_bad_redactions_are_400s_naming_the_problem(client, people, chart, request_id,
                                                    redaction, named):
    body = {"documents": [chart["note"]],
            "redactions": [{"document_id": chart["note"], **redaction}]}
    response = post_packet(client, people, request_id, body)
    assert response.status_code == 400, response.json
    assert named in response.json["error"]["message"]


def test_a_document_of_another_patient_is_a_400(client, people, filed, chart, request_id):
    client.post("/api/v1/patients", json={"mrn": "MRN-2002", "name": "ROE, RICHARD",
                                          "dob": "1955-03-04"}, headers=people.headers("clerk"))
    other = filed(mrn="MRN-2002").document_id
    response = post_packet(client, people, request_id, {"documents": [chart["scan"], other]})
    assert response.status_code == 400
    assert f"documents: {other} are not documents of the request's patients" in \
        response.json["error"]["message"]


def test_who_may_build_and_download(client, people, chart, request_id):
    body = {"documents": [chart["scan"]]}
    assert post_packet(client, people, request_id, body, role="clerk").status_code == 403
    assert post_packet(client, people, request_id, body, role="compliance").status_code == 403
    assert post_packet(client, people, request_id, body).status_code == 201
    assert download(client, people, request_id, role="clerk").status_code == 403
    assert download(client, people, request_id, role="compliance").status_code == 200


def test_a_restricted_chart_needs_the_glass_broken_to_build(client, people, filed, log_request):
    client.post("/api/v1/patients", json={"mrn": "MRN-3003", "name": "VIP, VERA",
                                          "dob": "1960-05-06", "restricted": True},
                headers=people.headers("clerk"))
    document = filed(mrn="MRN-3003").document_id
    request_id = log_request(mrn="MRN-3003").json["id"]
    refused = post_packet(client, people, request_id, {"documents": [document]})
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "restricted_record"
    client.post("/api/v1/patients/MRN-3003/break-glass", headers=people.headers("staff"),
                json={"reason": "Patient's own request for the complete chart"})
    assert post_packet(client, people, request_id, {"documents": [document]}).status_code == 201


def test_nothing_of_a_redacted_page_survives_beside_it(tmp_path):
    """A form field's value, a note, the outline and the document info of the original leave
    no copy anywhere in the packet's objects (assembly alone, no database)."""
    from datetime import date

    from pikepdf import Array, Dictionary, Name, String

    from release.packet_pdf import Letter, Part, assemble
    from release.redaction import Box

    source = tmp_path / "source.pdf"
    with pikepdf.open(io.BytesIO(text_pdf([f"Travel: {HIDDEN}"]))) as pdf:
        field = pdf.make_indirect(Dictionary(
            Type=Name.Annot, Subtype=Name.Widget, FT=Name.Tx, T=String("f"),
            V=String("FORMSECRET"), Rect=Array([100, 100, 300, 120]), P=pdf.pages[0].obj))
        note = Dictionary(Type=Name.Annot, Subtype=Name.Text, Contents=String("NOTESECRET"),
                          Rect=Array([100, 200, 120, 220]))
        pdf.pages[0].obj.Annots = Array([field, pdf.make_indirect(note)])
        pdf.Root.AcroForm = Dictionary(Fields=Array([field]))
        pdf.Root.Outlines = pdf.make_indirect(Dictionary(Title=String("OUTLINESECRET")))
        pdf.docinfo[Name.Title] = "INFOSECRET"
        pdf.save(source)
    out = tmp_path / "packet.pdf"
    assemble([Part(source, "Document 1", {1: [Box(0.1, 0.05, 0.5, 0.15)]})],
             Letter(1, "DOE, JANE", "", date(2026, 5, 2)), out, tmp_path)
    with pikepdf.open(out) as packet:
        everything = b"".join(
            repr(obj).encode() + (obj.read_bytes() if isinstance(obj, pikepdf.Stream) else b"")
            for obj in packet.objects)
    for secret in (b"FORMSECRET", b"NOTESECRET", b"OUTLINESECRET", b"INFOSECRET",
                   HIDDEN.encode()):
        assert secret not in everything
