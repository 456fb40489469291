"""Sheet codes and the splitting rules, without images: a payload round-trips, a changed
character is refused by its check value, and the stack is cut at every sheet."""

from __future__ import annotations

import pytest

from ingest.batches import codes
from ingest.batches.splitting import NO_COVER, SEPARATOR_FIRST, PageReading, plan_parts


def test_a_cover_code_round_trips_with_its_check_value():
    code = codes.patient_code("MRN-1001", "discharge_summary", "E-17")
    assert codes.parse(code.payload()) == code
    assert codes.parse(codes.SEPARATOR_CODE.payload()) == codes.SEPARATOR_CODE


def test_a_mistyped_payload_is_refused_by_its_check_value():
    payload = codes.patient_code("MRN-1001", "discharge_summary").payload()
    with pytest.raises(codes.BadCode, match="check value"):
        codes.parse(payload.replace("MRN-1001", "MRN-1007"))


@pytest.mark.parametrize("text", ["CVB1|P|MRN-1|x", "CVB2|P|MRN-1|note||00000000", "hello"])
def test_a_payload_of_the_wrong_shape_is_refused(text):
    with pytest.raises(codes.BadCode):
        codes.parse(text)


def test_fields_a_reader_could_not_take_back_are_refused():
    with pytest.raises(codes.BadCode, match="type name"):
        codes.patient_code("MRN-1001", "Discharge|Summary")


def sheet(number, mrn="", doc_type="note", kind=codes.PATIENT):
    code = codes.SheetCode(kind, mrn, doc_type if mrn else "", "") if kind else None
    return PageReading(number, sheet=code, is_sheet=True, problem="" if code else "unreadable")


def test_the_stack_is_cut_at_every_sheet_and_blank_backs_of_sheets_are_dropped():
    readings = [
        PageReading(1),  # before any cover sheet
        sheet(2, "MRN-1"), PageReading(3, blank=True), PageReading(4), PageReading(5, blank=True),
        sheet(6, kind=codes.SEPARATOR), PageReading(7),
        sheet(8, kind=None), PageReading(9),
        sheet(10, kind=codes.SEPARATOR), PageReading(11),
        sheet(12, "MRN-2"), sheet(13, "MRN-3"), PageReading(14),
    ]
    parts = [(p.mrn, p.pages, p.problem) for p in plan_parts(readings)]
    assert parts == [
        ("", [1], NO_COVER),
        ("MRN-1", [4, 5], ""),  # a blank page inside a document is the document's
        ("MRN-1", [7], ""),
        ("", [9], "unreadable"),
        ("", [11], SEPARATOR_FIRST),  # not carried across the unreadable sheet
        ("MRN-3", [14], ""),  # a cover with no pages after it files nothing
    ]
