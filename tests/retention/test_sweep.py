"""The nightly sweep on the real databases (SQLite and PostgreSQL): the set-based SQL dates
every document exactly as retention.clocks does, never sooner than the floors allow, and
gathers the due documents under no hold into one batch for review; then exclusion and the
two approvals, by two different compliance officers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from archive.auth.permissions import Principal
from archive.errors import BadRequest, Conflict, PermissionDenied
from archive.models import Document
from archive.records.patients import find_patient, register_patient
from retention.clocks import Rules
from retention.disposition import sweep
from retention.disposition_dates import preview_policy
from retention.disposition_review import (
    SecondApprovalNeeded,
    approve_batch,
    batch_page,
    exclude_item,
)
from retention.floors import Floors, PolicyBelowFloor
from retention.models import DispositionBatch, DispositionItem, RetentionDate, RetentionPolicy
from retention.policies import disposition_for, save_policy
from tests.conftest import SYSTEM, add_user
from tests.retention.disposing import FLOORS, approve
from tests.retention.holding import events, place

TODAY = date(2026, 11, 27)
FILED = datetime(2010, 1, 15, 9, 30, tzinfo=UTC)

# (mrn, dob, date of death, [(type, date of service)]) chosen to hit every clock and edge.
PATIENTS = [
    ("ADULT-1", date(1950, 5, 1), None, [("discharge_summary", date(2012, 3, 4)),
                                        ("lab_report", date(2015, 6, 7))]),
    ("MINOR-1", date(2005, 2, 28), None, [("discharge_summary", date(2010, 8, 9))]),
    ("LEAP-DOB", date(2008, 2, 29), None, [("discharge_summary", date(2011, 1, 1))]),
    ("LEAP-SEEN", date(1960, 1, 1), None, [("discharge_summary", date(2012, 2, 29))]),
    ("DEAD-1", date(1930, 1, 1), date(2011, 9, 30), [("discharge_summary", date(2011, 9, 1))]),
    ("UNDATED", date(1970, 7, 7), None, [("discharge_summary", None)]),
    ("RECENT", date(1980, 1, 1), None, [("discharge_summary", date(2025, 1, 1))]),
    ("PERMANENT", date(1940, 1, 1), None, [("birth_record", date(1940, 1, 1))]),
]
DEFAULT_RULES = Rules(after_last_encounter_years=10, after_majority_years=3, age_of_majority=18,
                      after_death_years=6)


@pytest.fixture
def officer(people):
    return people.principal("compliance")


@pytest.fixture
def archive_of_patients(ext, officer):
    """The patients above, with a default policy, a permanent one for birth records and a
    shorter one for lab reports; returns {mrn: [document ids]}."""
    _policy(ext, officer, "*", DEFAULT_RULES)
    _policy(ext, officer, "birth_record", Rules(permanent=True))
    _policy(ext, officer, "lab_report", Rules(after_last_encounter_years=7))
    documents = {}
    for mrn, dob, died, filed in PATIENTS:
        with ext.db.transaction() as session:
            register_patient(session, SYSTEM, mrn=mrn, name=f"{mrn}, PAT", dob=dob,
                             date_of_death=died)
        documents[mrn] = [_document(ext, mrn, doc_type, served) for doc_type, served in filed]
    return documents


def _policy(ext, principal, doc_type, rules, reason="the schedule"):
    with ext.db.transaction() as session:
        return save_policy(session, principal, doc_type, name=f"{doc_type} schedule",
                           rules=rules, source="HIM-12", reason=reason, floors=FLOORS).id


def _document(ext, mrn, doc_type, served, status="ready", filed=FILED) -> int:
    with ext.db.transaction() as session:
        document = Document(uid=uuid.uuid4().hex, patient_id=find_patient(session, mrn).id,
                            doc_type=doc_type, date_of_service=served, created_at=filed,
                            status=status)
        session.add(document)
        session.flush()
        return document.id


def _swept(ext, today=TODAY, floors=FLOORS):
    with ext.db.transaction() as session:
        return sweep(session, today=today, floors=floors)


def _items(ext, status="pending") -> dict[int, DispositionItem]:
    with ext.db.transaction() as session:
        rows = session.scalars(select(DispositionItem).where(DispositionItem.status == status))
        return {item.document_id: item for item in rows}


def test_the_sql_sweep_dates_every_document_as_the_python_clocks_do(ext, archive_of_patients):
    _swept(ext)
    with ext.db.transaction() as session:
        stored = {row.document_id: (row.disposition_date, row.policy_id)
                  for row in session.scalars(select(RetentionDate))}
        expected = {}
        for ids in archive_of_patients.values():
            for document_id in ids:
                result = disposition_for(session, session.get(Document, document_id), FLOORS)
                expected[document_id] = (result.disposition_date, result.policy.id)
    assert stored == expected
    leap = stored[archive_of_patients["LEAP-DOB"][0]][0]
    # Born 29 Feb 2008, a minor at the last encounter: 18 + 3 years on, 2029 has no 29 Feb.
    assert leap == date(2029, 3, 1)
    assert stored[archive_of_patients["PERMANENT"][0]][0] is None


def test_the_sweep_batches_the_due_documents_and_leaves_held_ones_out(
    ext, officer, archive_of_patients
):
    place(ext, officer, mrns=["ADULT-1"])
    result = _swept(ext)
    due = set(_items(ext))
    ids = archive_of_patients
    # Adults seen in 2012-2015 under 10 years: the lab report (7 years) and discharge
    # summaries alike, but ADULT-1 is held.
    assert ids["LEAP-SEEN"][0] in due and ids["DEAD-1"][0] in due and ids["UNDATED"][0] in due
    assert not due & set(ids["ADULT-1"])
    assert ids["RECENT"][0] not in due and ids["PERMANENT"][0] not in due
    # Minors wait for majority + 3 years: born 2005, that was 2026-02-28; born 2008, 2029.
    assert ids["MINOR-1"][0] in due and ids["LEAP-DOB"][0] not in due
    assert result.held_out == 2 and result.added == len(due)


def test_a_second_sweep_adds_only_new_documents_to_the_batch_in_review(
    ext, officer, archive_of_patients
):
    first = _swept(ext)
    again = _swept(ext)
    assert again.added == 0 and again.batch_id is None
    late = _document(ext, "LEAP-SEEN", "discharge_summary", date(2013, 1, 1))
    third = _swept(ext)
    assert third.batch_id == first.batch_id and third.added == 1
    assert late in _items(ext)


def test_documents_still_in_ocr_wait_for_a_later_sweep(ext, officer, archive_of_patients):
    busy = _document(ext, "DEAD-1", "discharge_summary", date(2011, 9, 2), status="processing")
    _swept(ext)
    assert busy not in _items(ext)


def test_without_a_default_policy_documents_are_kept_and_the_summary_says_why(
    ext, officer, archive_of_patients
):
    with ext.db.transaction() as session:  # a fresh archive: only the permanent policy
        session.execute(update(Document).values(doc_type="consent"))
    from retention.models import RetentionPolicy

    with ext.db.transaction() as session:
        session.execute(RetentionPolicy.__table__.delete().where(RetentionPolicy.doc_type == "*"))
    result = _swept(ext)
    assert result.dated == 0 and result.undated == sum(map(len, archive_of_patients.values()))
    assert "set a default policy" in result.summary()


def test_an_excluded_document_is_not_proposed_again_until_its_date_changes(
    ext, officer, archive_of_patients
):
    _swept(ext)
    target = archive_of_patients["UNDATED"][0]
    item = _items(ext)[target]
    with ext.db.transaction() as session, pytest.raises(BadRequest, match="Say why"):
        exclude_item(session, officer, item.id, "  ")
    with ext.db.transaction() as session:
        exclude_item(session, officer, item.id, "Requested by research study 2026-44")
    _swept(ext)
    assert target not in _items(ext) and target in _items(ext, "excluded")
    approve_batch(ext, officer, item.batch_id, pending_seen=len(_items(ext)))
    shorter = Rules(after_last_encounter_years=9, after_majority_years=3, after_death_years=6)
    _policy(ext, officer, "*", shorter, reason="shorter schedule")
    renewed = _swept(ext)
    assert renewed.batch_id != item.batch_id and renewed.added == 1
    assert target in _items(ext)  # a new policy version: judged afresh, in the next batch


def test_approval_refuses_when_the_batch_grew_since_review(ext, officer, people,
                                                          archive_of_patients):
    batch_id = _swept(ext).batch_id
    with ext.db.transaction() as session:
        seen = batch_page(session, officer, batch_id).pending
    _document(ext, "LEAP-SEEN", "discharge_summary", date(2013, 1, 1))
    _swept(ext)
    with pytest.raises(Conflict, match="Review the batch again"):
        approve_batch(ext, officer, batch_id, pending_seen=seen)
    with pytest.raises(PermissionDenied):
        approve_batch(ext, people.principal("staff"), batch_id, pending_seen=seen + 1)
    with ext.db.transaction() as session:
        page = batch_page(session, officer, batch_id)
        assert all(view.why for view in page.items)  # every item says which clock made it due
    batch = approve_batch(ext, officer, batch_id, pending_seen=page.pending)
    assert batch.status == "approved_once" and batch.approved_by == officer.username
    assert [e.details["batch"] for e in events(ext, "disposition.batch_viewed")] == [batch_id] * 2
    (refused,) = events(ext, "disposition.approval_refused")
    assert refused.outcome == "refused" and "Review the batch again" in refused.reason


def test_a_policy_preview_counts_what_the_sweep_then_finds(
    ext, officer, people, archive_of_patients
):
    place(ext, officer, mrns=["ADULT-1"])
    shorter = Rules(after_last_encounter_years=1, after_majority_years=1, after_death_years=1)
    with ext.db.transaction() as session:
        before = preview_policy(session, officer, "*", DEFAULT_RULES, today=TODAY, floors=FLOORS)
        preview = preview_policy(session, officer, "*", shorter, today=TODAY, floors=FLOORS)
        with pytest.raises(PermissionDenied):
            preview_policy(session, people.principal("staff"), "*", shorter, today=TODAY,
                           floors=FLOORS)
        with pytest.raises(PolicyBelowFloor, match="Years after death is 0"):
            preview_policy(session, officer, "*", Rules(after_death_years=0), today=TODAY,
                           floors=FLOORS)
    # The default governs every type but the permanent and lab-report ones: 7 documents.
    assert (before.documents, before.newly_due) == (7, 0) and before.due_now == before.due_after
    assert preview.newly_due == 1  # RECENT (2025 + 1); LEAP-DOB waits until 2027-03-01
    assert preview.held == 1  # ADULT-1's discharge summary
    _policy(ext, officer, "*", shorter, reason="shorter schedule")
    result = _swept(ext)
    assert result.added == preview.due_after - preview.held  # the only lab report is held


# --- the floors ---------------------------------------------------------------------------------


def _retention_date(ext, document_id) -> date | None:
    with ext.db.transaction() as session:
        return session.get(RetentionDate, document_id).disposition_date


def test_a_document_younger_than_the_age_floor_is_never_swept(ext, officer, archive_of_patients):
    _policy(ext, officer, "*", Rules(after_last_encounter_years=1), reason="one year")
    # Seen in 2000, scanned ten days ago: the one-year clock ended in 2001.
    filed = datetime.combine(TODAY - timedelta(days=10), FILED.timetz())
    fresh = _document(ext, "LEAP-SEEN", "discharge_summary", date(2000, 1, 1), filed=filed)

    _swept(ext)

    assert fresh not in _items(ext)
    assert _retention_date(ext, fresh) == filed.date() + timedelta(days=90)
    with ext.db.transaction() as session:  # the SQL and the per-document check agree
        assert disposition_for(session, session.get(Document, fresh), FLOORS).disposition_date \
            == _retention_date(ext, fresh)
    _swept(ext, today=TODAY + timedelta(days=79))
    assert fresh not in _items(ext)
    _swept(ext, today=TODAY + timedelta(days=80))  # 90 days after filing
    assert fresh in _items(ext)


def test_the_age_floor_is_configurable(ext, officer, archive_of_patients):
    filed = datetime.combine(TODAY - timedelta(days=10), FILED.timetz())
    fresh = _document(ext, "LEAP-SEEN", "discharge_summary", date(2000, 1, 1), filed=filed)
    _swept(ext, floors=Floors(min_age_days=400))
    assert _retention_date(ext, fresh) == filed.date() + timedelta(days=400)
    _swept(ext, floors=Floors(min_age_days=10))
    assert fresh in _items(ext)


def test_a_stored_policy_below_the_floor_does_not_make_a_fresh_document_due(ext, officer):
    with ext.db.transaction() as session:  # as an upgrade finds it: no floor when saved
        session.add(RetentionPolicy(doc_type="*", version=1, name="No retention",
                                    rules=Rules(after_last_encounter_years=0).to_json(),
                                    source="legacy", created_by="former", reason="legacy"))
        register_patient(session, SYSTEM, mrn="FRESH-1", name="NEW, NED", dob=date(1970, 1, 1))
    minutes_ago = datetime.combine(TODAY, FILED.timetz())
    fresh = _document(ext, "FRESH-1", "discharge_summary", None, filed=minutes_ago)
    seen_last_month = _document(ext, "FRESH-1", "lab_report", TODAY - timedelta(days=30))

    result = _swept(ext)

    assert result.added == 0 and _items(ext) == {}
    # The patient's last encounter is today (the undated document's filing): both count one
    # year from it, not zero years, which would have made them due today.
    assert _retention_date(ext, fresh) == date(2027, 11, 27)
    assert _retention_date(ext, seen_last_month) == date(2027, 11, 27)


# --- two approvals ------------------------------------------------------------------------------


def _batch(ext, batch_id) -> DispositionBatch:
    with ext.db.transaction() as session:
        return session.get(DispositionBatch, batch_id)


def test_a_batch_needs_the_approvals_of_two_different_officers(
    ext, officer, second_officer, archive_of_patients
):
    batch_id = _swept(ext).batch_id

    first = approve(ext, officer, batch_id)
    assert (first.status, first.approved_by, first.second_approved_by) == (
        "approved_once", "compliance1", None)
    second = approve(ext, second_officer, batch_id)

    assert (second.status, second.approved_by, second.second_approved_by) == (
        "approved", "compliance1", "compliance2")
    assert second.second_approved_at >= second.approved_at
    assert [(e.actor, e.details["approval"]) for e in events(ext, "disposition.approved")] == [
        ("compliance1", 1), ("compliance2", 2)]
    add_user(ext, "compliance3", "compliance")
    with pytest.raises(Conflict, match="only a batch in review or awaiting"):
        approve(ext, Principal("compliance3", "compliance", None, "tests"), batch_id)


def test_the_same_officer_cannot_give_both_approvals(ext, officer, archive_of_patients):
    batch_id = _swept(ext).batch_id
    approve(ext, officer, batch_id)

    with pytest.raises(SecondApprovalNeeded) as refused:
        approve(ext, officer, batch_id)

    assert refused.value.http_status == 409
    assert "another compliance officer must give the second approval" in refused.value.message
    batch = _batch(ext, batch_id)
    assert (batch.status, batch.second_approved_by) == ("approved_once", None)
    (event,) = events(ext, "disposition.approval_refused")
    assert (event.actor, event.outcome) == ("compliance1", "refused")
    assert event.details == {"batch": batch_id, "code": "second_approval_needed"}


def test_the_second_approval_is_checked_against_what_its_officer_saw(
    ext, officer, second_officer, archive_of_patients
):
    batch_id = _swept(ext).batch_id
    approve(ext, officer, batch_id)
    with ext.db.transaction() as session:
        seen = batch_page(session, second_officer, batch_id).pending
    target = archive_of_patients["UNDATED"][0]
    with ext.db.transaction() as session:  # the first officer keeps one document after all
        exclude_item(session, officer, _items(ext)[target].id, "Asked for by the patient")

    with pytest.raises(Conflict, match=f"not the {seen} you reviewed"):
        approve_batch(ext, second_officer, batch_id, pending_seen=seen)
    assert approve(ext, second_officer, batch_id).status == "approved"
    assert target in _items(ext, "excluded")
