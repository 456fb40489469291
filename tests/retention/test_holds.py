"""Legal holds in the database: placement, release, what a hold covers (later filings too), and
the refusal of every change to a held document, named and audited."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import select

from archive.errors import BadRequest, Conflict, DocumentOnHold, PermissionDenied, UnknownPatient
from archive.interfaces import Upload
from archive.models import Document, DocumentVersion
from archive.records.edits import correct_metadata, reassign_patient
from archive.records.filing import add_version
from archive.records.patients import register_patient
from retention.holds import (
    DELETE,
    DISPOSE,
    holds_covering,
    place_hold,
    refuse_if_held,
    release_hold,
)
from tests.conftest import SYSTEM
from tests.retention.holding import CONTACT, events, file_document, place
from tests.samples import pdf_bytes

OTHER = "MRN-2002"


@pytest.fixture
def other_patient(ext):
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn=OTHER, name="ROE, RITA", dob=date(1980, 3, 4))
    return OTHER


@pytest.fixture
def clerk(people):
    return people.principal("clerk")


@pytest.fixture
def compliance(people):
    return people.principal("compliance")


def covering(ext, document_id: int) -> list[str]:
    with ext.db.transaction() as session:
        return [hold.name for hold in holds_covering(session, session.get(Document, document_id))]


def new_version(ext, clerk, document_id):
    upload = Upload(io.BytesIO(pdf_bytes(["RESCAN"])), "rescan.pdf")
    add_version(ext, clerk, document_id=document_id, upload=upload, reason="page cut off")


def edit_metadata(ext, clerk, document_id):
    correct_metadata(ext, clerk, document_id, doc_type="operative_report",
                     date_of_service=date(2024, 5, 1), department="Surgery", reason="mistyped")


def reassign(ext, clerk, document_id):
    reassign_patient(ext, clerk, document_id, mrn=OTHER, reason="MRN belongs to Roe")


@pytest.mark.parametrize(
    ("change", "action"),
    [
        (new_version, "given a new version"),
        (edit_metadata, "edited"),
        (reassign, "moved to another patient"),
    ],
)
def test_a_held_document_refuses_the_change_naming_the_hold_and_its_contact(
    ext, clerk, compliance, patient, other_patient, change, action
):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    hold = place(ext, compliance, mrns=[patient])

    with pytest.raises(DocumentOnHold) as refused:
        change(ext, clerk, version.document_id)

    assert refused.value.message == (
        f"Document {version.document_id} is under legal hold 'Smith v. Mercy' (contact: "
        f"{CONTACT}); it cannot be {action} until the hold is released."
    )
    assert (refused.value.http_status, refused.value.code) == (409, "document_on_hold")
    with ext.db.transaction() as session:
        document = session.get(Document, version.document_id)
        assert (document.patient.mrn, document.doc_type) == (patient, "discharge_summary")
        assert [v.number for v in document.versions] == [1]
    [event] = events(ext, "hold.refused")
    assert (event.actor, event.outcome, event.document_id) == ("clerk1", "refused",
                                                                version.document_id)
    assert event.patient_mrn == patient
    assert event.details == {"attempt": action, "holds": [hold.id]}
    assert event.reason == refused.value.message


def test_every_hold_in_force_is_named(ext, clerk, compliance, patient):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    place(ext, compliance, mrns=[patient])
    place(ext, compliance, name="State audit 2025", types=["discharge_summary"])

    with pytest.raises(DocumentOnHold, match=r"under legal holds 'Smith v. Mercy' \(contact: "
                       r".+\) and 'State audit 2025' \(contact: .+\); it cannot be edited until "
                       r"these holds are released\."):
        edit_metadata(ext, clerk, version.document_id)


def test_documents_outside_every_scope_change_as_before(ext, clerk, compliance, patient,
                                                         other_patient):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    place(ext, compliance, mrns=[other_patient])
    place(ext, compliance, name="Audit", types=["operative_report"])

    new_version(ext, clerk, version.document_id)
    edit_metadata(ext, clerk, version.document_id)  # now an operative report: held from here

    assert covering(ext, version.document_id) == ["Audit"]
    assert events(ext, "hold.refused") == []


def test_a_hold_by_type_and_dates_covers_documents_filed_after_it(ext, clerk, compliance,
                                                                   patient):
    place(ext, compliance, types=["discharge_summary"],
          **{"from": "2024-01-01", "to": "2024-06-30"})

    inside = file_document(ext, clerk, patient, "IN RANGE", date_of_service=date(2024, 6, 30))
    undated = file_document(ext, clerk, patient, "NO DATE")
    too_late = file_document(ext, clerk, patient, "LATER", date_of_service=date(2024, 7, 1))
    other_type = file_document(ext, clerk, patient, "NOTE", doc_type="progress_note",
                               date_of_service=date(2024, 3, 1))

    assert covering(ext, inside.document_id) == ["Smith v. Mercy"]
    # Nobody can show an undated document falls outside the range: it is kept.
    assert covering(ext, undated.document_id) == ["Smith v. Mercy"]
    assert covering(ext, too_late.document_id) == []
    assert covering(ext, other_type.document_id) == []
    with pytest.raises(DocumentOnHold, match="cannot be given a new version"):
        new_version(ext, clerk, inside.document_id)


def test_each_part_of_a_scope_must_match_and_a_list_matches_any_value(ext, clerk, compliance,
                                                                      patient, other_patient):
    mine = file_document(ext, clerk, patient, "MINE")
    theirs = file_document(ext, clerk, other_patient, "THEIRS")
    note = file_document(ext, clerk, other_patient, "NOTE", doc_type="progress_note")
    place(ext, compliance, mrns=[patient, other_patient], types=["discharge_summary"])
    place(ext, compliance, name="One document", document_ids=[note.document_id])

    assert covering(ext, mine.document_id) == ["Smith v. Mercy"]
    assert covering(ext, theirs.document_id) == ["Smith v. Mercy"]
    assert covering(ext, note.document_id) == ["One document"]


def test_placement_records_who_and_when_and_is_audited(ext, clerk, compliance, patient):
    file_document(ext, clerk, patient, "DISCHARGE SUMMARY")

    hold = place(ext, compliance, mrns=[patient], types=["Discharge_Summary "])

    assert hold.placed_by == "compliance1" and hold.placed_at is not None
    assert hold.released_at is None
    assert hold.scope == {"mrns": [patient], "types": ["discharge_summary"]}
    [event] = events(ext, "hold.place")
    assert event.actor == "compliance1"
    assert event.reason == hold.reason
    assert event.details["hold"] == hold.id
    assert event.details["covered_documents"] == 1
    assert event.details["contact"] == CONTACT


def test_release_needs_a_reason_and_records_who_and_when(ext, clerk, compliance, patient):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    hold = place(ext, compliance, mrns=[patient])

    with pytest.raises(BadRequest, match="Say why the hold is released"):
        release_hold(ext, compliance, hold.id, "  ")
    released = release_hold(ext, compliance, hold.id, "Case settled")

    assert (released.released_by, released.release_reason) == ("compliance1", "Case settled")
    assert released.released_at >= released.placed_at
    [event] = events(ext, "hold.release")
    assert (event.actor, event.reason, event.details["hold"]) == ("compliance1", "Case settled",
                                                                 hold.id)
    with pytest.raises(Conflict, match="already released by compliance1"):
        release_hold(ext, compliance, hold.id, "again")
    edit_metadata(ext, clerk, version.document_id)  # free again
    assert covering(ext, version.document_id) == []


def test_only_compliance_places_and_releases_holds(ext, people, compliance, patient):
    hold = place(ext, compliance, mrns=[patient])
    for role in ("clerk", "staff", "admin"):
        with pytest.raises(PermissionDenied):
            place(ext, people.principal(role), mrns=[patient])
        with pytest.raises(PermissionDenied):
            release_hold(ext, people.principal(role), hold.id, "Case settled")


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({}, "Say what the hold covers"),
        ({"mrns": []}, "Say what the hold covers"),
        ("MRN-1001", "as an object"),
        ({"mrn": ["MRN-1001"]}, "no part named mrn"),
        ({"mrns": "MRN-1001"}, "mrns must be a list"),
        ({"mrns": ["MRN 1001!"]}, "is not an MRN"),
        ({"document_ids": ["twelve"]}, "is not a document number"),
        ({"document_ids": [True]}, "is not a document number"),
        ({"types": ["Discharge Summary"]}, "is not a document type"),
        ({"from": "03/01/2024"}, "YYYY-MM-DD"),
        ({"to": 20240301}, "YYYY-MM-DD"),
        ({"from": "2024-07-01", "to": "2024-01-01"}, "ends .* before it starts"),
        ({"mrns": [f"MRN-{i}" for i in range(1001)]}, "more than 1000 mrns"),
    ],
)
def test_a_malformed_scope_is_refused_saying_what_to_fix(ext, compliance, scope, message):
    with pytest.raises(BadRequest, match=message):
        place_hold(ext, compliance, name="Matter", reason="Litigation", contact=CONTACT,
                   scope=scope)


def test_named_patients_and_documents_must_exist(ext, clerk, compliance, patient):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")

    with pytest.raises(UnknownPatient, match="No patient with MRN MRN-9999 is registered"):
        place(ext, compliance, mrns=[patient, "MRN-9999"])
    with pytest.raises(BadRequest, match="There is no document 999; check the number"):
        place(ext, compliance, document_ids=[version.document_id, 999])
    assert events(ext, "hold.place") == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": " "}, "Name the hold after its matter"),
        ({"reason": ""}, "Say why the records must be kept"),
        ({"contact": ""}, "Give a contact"),
        ({"name": "x" * 201}, "name is longer than 200 characters"),
    ],
)
def test_a_hold_needs_a_name_a_reason_and_a_contact(ext, compliance, patient, fields, message):
    given = {"name": "Smith v. Mercy", "reason": "Litigation", "contact": CONTACT, **fields}
    with pytest.raises(BadRequest, match=message):
        place_hold(ext, compliance, scope={"mrns": [patient]}, **given)


@pytest.mark.parametrize("action", [DELETE, DISPOSE])
def test_deletion_and_disposition_ask_the_same_rule(ext, clerk, compliance, patient, action):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    place(ext, compliance, mrns=[patient])

    with ext.db.transaction() as session, pytest.raises(DocumentOnHold,
                                                        match=f"cannot be {action} until"):
        document = session.scalars(select(Document).join(DocumentVersion)
                                   .where(DocumentVersion.id == version.id)).one()
        refuse_if_held(session, document, action, SYSTEM.actor)
    [event] = events(ext, "hold.refused")
    assert (event.actor, event.details["attempt"]) == ("tests", action)


def test_a_patients_details_cannot_be_corrected_under_a_hold(ext, clerk, compliance, patient):
    from archive.records.patients import edit_patient

    version = file_document(ext, clerk, patient, "held chart")
    place(ext, compliance, mrns=[patient])
    with pytest.raises(DocumentOnHold, match="Smith v. Mercy") as refused:
        edit_patient(ext, clerk, patient, name="DOE, JANET", dob=date(1970, 1, 2),
                     date_of_death=None, restricted=False, reason="name misread")
    assert "patient's details" in refused.value.message
    assert events(ext, "hold.refused")[-1].document_id == version.document_id
    with ext.db.transaction() as session:
        assert session.scalar(select(Document).where(Document.id == version.document_id)
                              ).patient.name == "DOE, JANE"
