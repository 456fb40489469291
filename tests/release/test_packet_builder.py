"""The web packet builder (/requests/<id>/packet): the documents listed with their pages, the
chosen pages' images through the viewer's audited page-image route, the term search's word
boxes, building a packet with drawn boxes (the word under a box is gone from the packet),
the form's 400s (bad box, page out of range, CSRF) with nothing stored, restricted charts,
and who may use it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from archive.models import AuditEvent
from ingest.worker import Worker
from release.builder import shown_box
from release.packet_models import ReleasePacket
from tests.release.conftest import audit_events
from tests.release.test_packets import page_text
from tests.release.test_queue import logged_in
from tests.search.charts import text_pdf

HIDDEN = "Zanzibar"


def read_all(ext) -> None:
    """Run the queued OCR jobs (text-layer PDFs: the words come from the PDF, quickly)."""
    worker = Worker(ext, worker_id="tests")
    while worker.run_once():
        pass


@pytest.fixture
def chart(ext, filed):
    """A two-page note naming the hidden word on page 2, and a one-page summary; read."""
    note = filed(data=text_pdf(["Progress note, first page"],
                               ["Diagnosis: pneumonia resolved", f"Travel: {HIDDEN} in May"]),
                 doc_type="progress_note").document_id
    summary = filed(data=text_pdf(["DISCHARGE SUMMARY", "Home with follow up"])).document_id
    read_all(ext)
    return {"note": note, "summary": summary}


@pytest.fixture
def request_id(log_request):
    return log_request().json["id"]


@pytest.fixture
def staff(app, people):
    return logged_in(app, "staff1")


def post(staff, request_id, **fields):
    return staff.post(f"/requests/{request_id}/packet",
                      data={"csrf_token": staff.token, **fields})


def packets_stored(ext) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(ReleasePacket))


def proposed_boxes(html: str) -> list[str]:
    return re.findall(r'name="box" value="([^"]+)" data-proposal', html)


def test_the_builder_lists_the_patients_documents_and_shows_the_chosen_pages(
        ext, staff, chart, request_id):
    page = staff.get(f"/requests/{request_id}/packet")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for document_id in chart.values():
        assert f'id="document-{document_id}" name="document" value="{document_id}"' in html
    assert "Progress note #" in html and "Discharge summary #" in html
    assert "/pages/" not in html  # nothing chosen yet, so no page image is fetched
    shown = post(staff, request_id, action="show", document=str(chart["note"]),
                 **{f"pages-{chart['note']}": "2"}).get_data(as_text=True)
    images = re.findall(r'href="(/documents/\d+/versions/\d+/pages/\d+/image)"', shown)
    assert images == [f"/documents/{chart['note']}/versions/1/pages/2/image"]
    unreadable = post(staff, request_id, action="show", document=str(chart["note"]),
                      **{f"pages-{chart['note']}": "two"})
    assert unreadable.status_code == 400
    assert "is not a page or a range" in unreadable.get_data(as_text=True)
    # The image comes through the viewer's route, which audits it.
    assert staff.get(images[0]).status_code == 200
    with ext.db.transaction() as session:
        seen = session.scalars(select(AuditEvent).where(
            AuditEvent.document_id == chart["note"])).all()
    assert any((event.details or {}).get("page") == 2 for event in seen)
    assert audit_events(ext, "request.packet_builder", request_id)


def test_the_term_search_proposes_the_words_boxes_on_the_chosen_pages(
        ext, staff, chart, request_id):
    found = post(staff, request_id, action="find", term=HIDDEN.lower(),
                 document=[str(chart["note"]), str(chart["summary"])])
    assert found.status_code == 200
    html = found.get_data(as_text=True)
    [value] = proposed_boxes(html)
    document_id, page, box = value.split(":")
    assert (int(document_id), int(page)) == (chart["note"], 2)
    x0, y0, x1, y1 = map(float, box.split(","))
    assert 0 < x0 < x1 < 0.6 and 0 < y0 < y1 < 0.3  # the second line, near the top left
    assert f"“{HIDDEN}”" in html
    # Not on the chosen pages: nothing proposed, and the page says so.
    none = post(staff, request_id, action="find", term=HIDDEN,
                document=str(chart["note"]), **{f"pages-{chart['note']}": "1"})
    assert proposed_boxes(none.get_data(as_text=True)) == []
    assert "is not on the chosen pages" in none.get_data(as_text=True)
    [event, _] = audit_events(ext, "request.packet_term_search", request_id)
    assert event.details["found"] == 1


def test_an_accepted_box_is_built_into_the_packet_and_the_word_is_gone(
        app, client, people, ext, staff, chart, request_id):
    html = post(staff, request_id, action="find", term=HIDDEN,
                document=str(chart["note"])).get_data(as_text=True)
    [accepted] = proposed_boxes(html)
    built = post(staff, request_id, action="build",
                 document=[str(chart["note"]), str(chart["summary"])], box=accepted)
    assert built.status_code == 303, built.get_data(as_text=True)
    assert built.headers["Location"].endswith(f"/requests/{request_id}#packets-title")
    request_page = staff.get(f"/requests/{request_id}").get_data(as_text=True)
    assert "Packet 1: 4 pages, 2 documents, 1 redaction" in request_page
    packet = staff.get(f"/requests/{request_id}/packet.pdf")
    assert packet.status_code == 200 and packet.mimetype == "application/pdf"
    text = page_text(packet.data)
    assert HIDDEN not in text
    assert "DISCHARGE SUMMARY" in text and "Progress note, first page" in text
    assert audit_events(ext, "request.packet_download", request_id)


@pytest.mark.parametrize(("fields", "named"), [
    ({"box": "{note}:1:0.1,0.1,1.5,0.2"}, "redaction box 1 must lie inside the page"),
    ({"box": "{note}:1:0.5,0.1,0.2,0.2"}, "redaction box 1 is empty"),
    ({"box": "{note}:one:0.1,0.1,0.2,0.2"}, "redaction box 1: the page must be a page number"),
    ({"box": "{note}:1"}, "must read document:page:x0,y0,x1,y1"),
    ({"box": "{note}:7:0.1,0.1,0.2,0.2"}, "document {note} has 2 pages; there is no page 7"),
    ({"pages-{note}": "1-5"},
     "pages of document {note}: document {note} has 2 pages; there is no page 3"),
    ({"pages-{note}": "2-1"}, "runs backwards"),
    ({"typed_document": "{note}", "typed_page": "1", "typed_left": "50", "typed_top": "10",
      "typed_right": "20", "typed_bottom": "20"}, "typed box is empty"),
    ({"document": []}, "choose at least one document"),
])
def test_the_form_refuses_bad_fields_with_a_400_naming_them_and_stores_nothing(
        ext, staff, chart, request_id, fields, named):
    note = str(chart["note"])
    data = {"action": "build", "document": note}
    data.update({key.format(note=note): value.format(note=note) if isinstance(value, str)
                 else value for key, value in fields.items()})
    refused = post(staff, request_id, **data)
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert named.format(note=note) in html.replace("&#34;", '"')
    assert 'role="alert"' in html and "Build the packet" in html
    assert packets_stored(ext) == 0


def test_the_form_needs_its_csrf_token(ext, staff, chart, request_id):
    refused = staff.post(f"/requests/{request_id}/packet",
                         data={"action": "build", "document": str(chart["summary"])})
    assert refused.status_code == 400
    assert packets_stored(ext) == 0


def test_a_typed_box_is_built_like_a_drawn_one(ext, staff, chart, request_id):
    built = post(staff, request_id, action="build", document=str(chart["summary"]),
                 typed_document=str(chart["summary"]), typed_page="1", typed_left="0",
                 typed_top="0", typed_right="100", typed_bottom="20")
    assert built.status_code == 303
    with ext.db.transaction() as session:
        [row] = session.scalars(select(ReleasePacket)).all()
        assert row.redactions == [{"document_id": chart["summary"], "page": 1,
                                   "box": [0.0, 0.0, 1.0, 0.2]}]


def test_who_may_use_the_builder(app, chart, request_id):
    officer = logged_in(app, "compliance1")
    assert officer.get(f"/requests/{request_id}/packet").status_code == 403
    assert post(officer, request_id, action="build",
                document=str(chart["summary"])).status_code == 403
    assert logged_in(app, "clerk1").get(f"/requests/{request_id}/packet").status_code == 403
    assert app.test_client().get(f"/requests/{request_id}/packet").status_code == 302


def test_a_restricted_chart_asks_for_the_glass_to_be_broken(client, people, staff, filed,
                                                           log_request):
    client.post("/api/v1/patients", json={"mrn": "MRN-3003", "name": "VIP, VERA",
                                          "dob": "1960-05-06", "restricted": True},
                headers=people.headers("clerk"))
    filed(mrn="MRN-3003")
    request_id = log_request(mrn="MRN-3003").json["id"]
    refused = staff.get(f"/requests/{request_id}/packet")
    assert refused.status_code == 403
    assert "break" in refused.get_data(as_text=True).lower()


@pytest.mark.parametrize(("rotation", "expected"), [
    (0, (0.1, 0.2, 0.3, 0.4)),
    (90, (0.2, 0.7, 0.4, 0.9)),
    (180, (0.7, 0.6, 0.9, 0.8)),
    (270, (0.6, 0.1, 0.8, 0.3)),
])
def test_a_box_on_a_turned_page_image_is_turned_back_to_the_page_as_shown(rotation, expected):
    assert shown_box((0.1, 0.2, 0.3, 0.4), rotation) == pytest.approx(expected)
