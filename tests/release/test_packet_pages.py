"""Page ranges in packets (issue 18 item 2): a document given as {"id", "pages": "1-3,7"}
releases only those pages, the stamps count only them, the cover letter names them, the
packet's contents record them; plain ids keep releasing whole documents; bad ranges are 400s
naming the field, and nothing is stored for them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from release.packet_models import ReleasePacket
from release.page_ranges import describe_pages, parse_pages
from tests.release.test_packets import download, page_text, post_packet
from tests.search.charts import text_pdf


@pytest.fixture
def five_pages(filed):
    """A text-layer document whose page n says "Folio n"."""
    pages = [[f"Folio {number} of the record"] for number in range(1, 6)]
    return filed(data=text_pdf(*pages), doc_type="progress_note").document_id


@pytest.fixture
def request_id(log_request):
    return log_request().json["id"]


def packets_stored(ext) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(ReleasePacket))


def test_chosen_pages_only_reach_the_packet_and_the_stamps_count_them(
        client, people, ext, five_pages, request_id):
    made = post_packet(client, people, request_id,
                       {"documents": [{"id": five_pages, "pages": "4, 1-2"}]})
    assert made.status_code == 201, made.json
    assert made.json["pages"] == 4  # the cover letter and three chosen pages
    packet = download(client, people, request_id).data
    body = [page_text(packet, number) for number in (2, 3, 4)]
    assert ["Folio 1" in body[0], "Folio 2" in body[1], "Folio 4" in body[2]] == [True] * 3
    assert not any("Folio 3" in text or "Folio 5" in text for text in body)
    for number, text in enumerate(body, start=2):
        assert f"Request {request_id} \u2014 page {number} of 4" in text
    cover = page_text(packet, 1)
    assert f"Document {five_pages}: progress note, pages 1-2, 4 (3 pages)" in cover
    assert "Total: 4 pages" in cover
    with ext.db.transaction() as session:
        row = session.get(ReleasePacket, made.json["id"])
        assert row.contents == [{"document_id": five_pages, "version": 1, "pages": [1, 2, 4]}]


def test_a_plain_id_releases_the_whole_document_and_records_every_page(
        client, people, ext, five_pages, filed, request_id):
    scan = filed().document_id
    made = post_packet(client, people, request_id,
                       {"documents": [five_pages, {"id": scan, "pages": ""}]})
    assert made.status_code == 201, made.json
    assert made.json["pages"] == 1 + 5 + 1
    with ext.db.transaction() as session:
        contents = session.get(ReleasePacket, made.json["id"]).contents
    assert [item["pages"] for item in contents] == [[1, 2, 3, 4, 5], [1]]


def test_a_redaction_is_on_an_original_page_number_among_the_chosen(
        client, people, five_pages, request_id):
    made = post_packet(client, people, request_id, {
        "documents": [{"id": five_pages, "pages": "3-4"}],
        "redactions": [{"document_id": five_pages, "page": 4, "box": [0, 0, 1, 0.2]}]})
    assert made.status_code == 201, made.json
    packet = download(client, people, request_id).data
    assert "Folio 3" in page_text(packet, 2)
    assert "Folio 4" not in page_text(packet)  # its line was under the box
    assert "redacted: page 4" in page_text(packet, 1)


@pytest.mark.parametrize(("documents", "redactions", "named"), [
    ([{"pages": "2-9"}], [], "documents[0].pages: document {id} has 5 pages; there is no page 6"),
    ([{"pages": "3-1"}], [], "documents[0].pages: the range \"3-1\" runs backwards"),
    ([{"pages": "0"}], [], "documents[0].pages: pages are numbered from 1"),
    ([{"pages": "1;2"}], [], "documents[0].pages: \"1;2\" is not a page or a range"),
    ([{"pages": "1"}, {"pages": "2"}], [], "documents[1]: document {id} is listed twice"),
    ([{"pages": "1-2"}], [{"page": 3, "box": [0.1, 0.1, 0.2, 0.2]}],
     "redactions[0].page: page 3 of document {id} is not among its chosen pages (1-2)"),
])
def test_bad_page_ranges_are_400s_naming_the_field_and_nothing_is_stored(
        client, people, ext, five_pages, request_id, documents, redactions, named):
    body = {"documents": [{"id": five_pages, **item} for item in documents],
            "redactions": [{"document_id": five_pages, **item} for item in redactions]}
    response = post_packet(client, people, request_id, body)
    assert response.status_code == 400, response.json
    assert named.format(id=five_pages) in response.json["error"]["message"]
    assert packets_stored(ext) == 0


def test_an_unknown_field_in_a_document_is_a_400(client, people, five_pages, request_id):
    response = post_packet(client, people, request_id,
                           {"documents": [{"id": five_pages, "page": "1"}]})
    assert response.status_code == 400
    assert "documents" in response.json["error"]["message"]


def test_ranges_are_read_as_clerks_write_them():
    assert parse_pages(" 7, 1-3 ,2", "pages") == (1, 2, 3, 7)
    assert parse_pages("", "pages") == ()
    assert describe_pages((1, 2, 3, 7, 9, 10)) == "1-3, 7, 9-10"
