"""Retention policies on the real databases (SQLite and PostgreSQL): versions, the default
policy, the disposition date a document gets and the version that produced it, and the
floors no policy goes below."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select

from archive.errors import BadRequest, Conflict, NotFound, PermissionDenied
from archive.models import AuditEvent, Document, utcnow
from archive.records.patients import find_patient, register_patient
from retention.clocks import Rules
from retention.floors import Floors, PolicyBelowFloor
from retention.models import RetentionPolicy
from retention.policies import (
    NoRetentionPolicy,
    apply_preset,
    current_policy,
    disposition_for,
    policy_history,
    save_policy,
)
from retention.presets import find_preset
from tests.conftest import SYSTEM
from tests.retention.disposing import FLOORS

TEN_YEARS = Rules(after_last_encounter_years=10)
SEVEN_YEARS = Rules(after_last_encounter_years=7)
FILED = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)


@pytest.fixture
def officer(people):
    return people.principal("compliance")


def save(ext, principal, doc_type="*", rules=TEN_YEARS, reason="first retention schedule"):
    with ext.db.transaction() as session:
        return save_policy(session, principal, doc_type, name=f"Schedule {rules.to_json()}",
                           rules=rules, source="Mercy General schedule HIM-12", reason=reason,
                           floors=FLOORS)


def file_document(ext, mrn, doc_type="discharge_summary", *, served=None, filed=None) -> int:
    """A document row as filing leaves it; retention reads only its type and dates. Filed on
    its date of service unless told (past the age floor long ago), else on FILED."""
    if filed is None:
        filed = (datetime.combine(served, FILED.timetz()) if served else FILED)
    with ext.db.transaction() as session:
        document = Document(uid=uuid.uuid4().hex, patient_id=find_patient(session, mrn).id,
                            doc_type=doc_type, date_of_service=served, created_at=filed)
        session.add(document)
        session.flush()
        return document.id


def disposition(ext, document_id, floors=FLOORS):
    with ext.db.transaction() as session:
        return disposition_for(session, session.get(Document, document_id), floors)


def dated_by(result) -> tuple[date | None, int]:
    """A disposition as (date, id of the policy version): rows from different sessions are
    different objects, so they are compared by id."""
    return result.disposition_date, result.policy.id


def history(ext, doc_type):
    with ext.db.transaction() as session:
        return [(p.version, Rules.from_json(p.rules)) for p in policy_history(session, doc_type)]


def saved_events(ext) -> list[AuditEvent]:
    with ext.db.transaction() as session:
        return list(session.scalars(select(AuditEvent)
                                    .where(AuditEvent.action == "retention.policy_saved")
                                    .order_by(AuditEvent.seq)))


# --- versions ---------------------------------------------------------------------------------


def test_an_edit_creates_version_2_and_version_1_still_exists(ext, officer):
    first = save(ext, officer, "discharge_summary", TEN_YEARS)
    second = save(ext, officer, "discharge_summary", SEVEN_YEARS, reason="board decision 12")
    assert (first.version, second.version) == (1, 2)
    assert first.id != second.id
    assert history(ext, "discharge_summary") == [(2, SEVEN_YEARS), (1, TEN_YEARS)]
    with ext.db.transaction() as session:
        assert current_policy(session, "discharge_summary").id == second.id


def test_versions_are_counted_per_document_type(ext, officer):
    save(ext, officer, "*")
    save(ext, officer, "*")
    assert save(ext, officer, "lab_report").version == 1
    assert [version for version, _rules in history(ext, "*")] == [2, 1]


def test_each_save_is_audited_with_the_version_before_and_after(ext, officer):
    save(ext, officer, "*", TEN_YEARS)
    save(ext, officer, "*", SEVEN_YEARS, reason="board decision 12")
    first, second = saved_events(ext)
    assert first.actor == "compliance1"
    assert first.details["doc_type"] == "*"
    assert first.details["before"] is None
    assert first.details["after"]["version"] == 1
    assert first.details["after"]["rules"] == TEN_YEARS.to_json()
    assert first.details["after"]["source"] == "Mercy General schedule HIM-12"
    assert second.details["before"] == first.details["after"]
    assert second.details["after"]["version"] == 2
    assert second.details["after"]["rules"] == SEVEN_YEARS.to_json()
    assert second.reason == "board decision 12"


@pytest.mark.parametrize("role", ["clerk", "staff", "admin"])
def test_only_compliance_may_save_a_policy(ext, people, role):
    with pytest.raises(PermissionDenied, match=r"retention\.manage"):
        save(ext, people.principal(role))
    assert history(ext, "*") == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"doc_type": "Discharge Summary!"}, "Give the document type"),
        ({"name": " "}, "Give the policy's name"),
        ({"source": ""}, "Give the policy's source"),
        ({"reason": "  "}, "Give the policy's reason"),
    ],
)
def test_a_policy_needs_a_type_a_name_a_source_and_a_reason(ext, officer, fields, message):
    arguments = {"doc_type": "*", "name": "Default", "source": "HIM-12", "reason": "initial",
                 **fields}
    with pytest.raises(BadRequest, match=message), ext.db.transaction() as session:
        save_policy(session, officer, arguments.pop("doc_type"), rules=TEN_YEARS,
                    floors=FLOORS, **arguments)
    assert saved_events(ext) == []


def test_a_version_saved_by_someone_else_at_the_same_moment_is_a_conflict(ext, officer):
    def rival_saves_first(_session, _context, _instances):
        save(ext, SYSTEM, "*", SEVEN_YEARS, reason="rival")

    with pytest.raises(Conflict, match="same moment"), ext.db.transaction() as session:
        event.listen(session, "before_flush", rival_saves_first, once=True)
        save_policy(session, officer, "*", name="Default", rules=TEN_YEARS, source="HIM-12",
                    reason="mine", floors=FLOORS)
    assert history(ext, "*") == [(1, SEVEN_YEARS)]
    assert [e.reason for e in saved_events(ext)] == ["rival"]


# --- which policy applies ---------------------------------------------------------------------


def test_the_default_policy_applies_to_a_type_without_its_own(ext, officer, patient):
    default = save(ext, officer, "*", TEN_YEARS)
    own = save(ext, officer, "lab_report", SEVEN_YEARS)
    summary = file_document(ext, patient, "discharge_summary", served=date(2015, 3, 10))
    lab = file_document(ext, patient, "lab_report", served=date(2015, 3, 10))
    assert dated_by(disposition(ext, summary)) == (date(2025, 3, 10), default.id)
    assert dated_by(disposition(ext, lab)) == (date(2022, 3, 10), own.id)


def test_without_any_policy_no_date_is_computed(ext, officer, patient):
    save(ext, officer, "lab_report")
    document = file_document(ext, patient, "discharge_summary", served=date(2015, 3, 10))
    with pytest.raises(NoRetentionPolicy, match="no default policy is set"):
        disposition(ext, document)


# --- disposition dates ------------------------------------------------------------------------


def test_disposition_counts_from_the_patients_last_encounter_and_names_the_version(
    ext, officer, patient
):
    save(ext, officer, "*", TEN_YEARS)
    document = file_document(ext, patient, served=date(2015, 3, 10))
    file_document(ext, patient, "progress_note", served=date(2018, 6, 1))
    when, policy = disposition(ext, document)
    assert when == date(2028, 6, 1)
    assert (policy.doc_type, policy.version) == ("*", 1)


def test_a_document_without_a_date_of_service_counts_from_its_filing_date(
    ext, officer, patient
):
    save(ext, officer, "*", TEN_YEARS)
    document = file_document(ext, patient, served=date(2010, 5, 5))
    file_document(ext, patient, served=None, filed=datetime(2021, 4, 4, 23, 0, tzinfo=UTC))
    assert disposition(ext, document).disposition_date == date(2031, 4, 4)


def test_a_policy_edited_after_a_date_was_computed(ext, officer, patient):
    save(ext, officer, "*", TEN_YEARS)
    document = file_document(ext, patient, served=date(2015, 3, 10))
    before = disposition(ext, document)
    save(ext, officer, "*", SEVEN_YEARS, reason="board decision 12")
    after = disposition(ext, document)
    assert (before.disposition_date, before.policy.version) == (date(2025, 3, 10), 1)
    assert (after.disposition_date, after.policy.version) == (date(2022, 3, 10), 2)
    with ext.db.transaction() as session:
        version_used_before = session.get(RetentionPolicy, before.policy.id)
        assert version_used_before.version == 1
        assert Rules.from_json(version_used_before.rules) == TEN_YEARS


@pytest.mark.parametrize(
    ("preset", "dob", "death", "served", "expected"),
    [
        # New York, deceased: six years after death outlasts six years after discharge.
        ("new_york_hospitals", date(1950, 4, 4), date(2022, 7, 15), date(2020, 2, 1),
         date(2028, 7, 15)),
        # Texas, last treated at 3, born 29 February: the 21st birthday, in a common year.
        ("texas_physicians", date(2012, 2, 29), None, date(2016, 1, 1), date(2033, 3, 1)),
        # AHIMA, an adult: ten years after the last encounter.
        ("ahima", date(1970, 1, 2), None, date(2015, 3, 10), date(2025, 3, 10)),
        ("permanent", date(1950, 4, 4), date(2022, 7, 15), date(2020, 2, 1), None),
    ],
)
def test_a_preset_applied_to_a_patient(ext, officer, preset, dob, death, served, expected):
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="MRN-3003", name="ROE, RITA", dob=dob,
                         date_of_death=death)
        policy = apply_preset(session, officer, "*", preset, reason="adopting the preset",
                              floors=FLOORS)
    assert (policy.name, policy.source) == (find_preset(preset).name, find_preset(preset).source)
    document = file_document(ext, "MRN-3003", served=served)
    assert dated_by(disposition(ext, document)) == (expected, policy.id)
    assert saved_events(ext)[-1].details["after"]["name"] == find_preset(preset).name


def test_an_unknown_preset_saves_nothing(ext, officer):
    with pytest.raises(NotFound, match="no retention preset 'florida'"), \
            ext.db.transaction() as session:
        apply_preset(session, officer, "*", "florida", reason="adopting", floors=FLOORS)
    assert history(ext, "*") == []


# --- the floors -----------------------------------------------------------------------------


def refused_events(ext) -> list[AuditEvent]:
    with ext.db.transaction() as session:
        return list(session.scalars(select(AuditEvent)
                                    .where(AuditEvent.action == "retention.policy_refused")
                                    .order_by(AuditEvent.seq)))


@pytest.mark.parametrize(
    ("rules", "named"),
    [
        (Rules(after_last_encounter_years=0), "Years after the last encounter is 0"),
        (Rules(after_last_encounter_years=10, after_majority_years=0),
         "Years after majority is 0"),
        (Rules(after_death_years=0), "Years after death is 0"),
    ],
)
def test_a_clock_shorter_than_a_year_is_refused_named_and_audited(ext, officer, rules, named):
    with pytest.raises(PolicyBelowFloor) as refused:
        save(ext, officer, "*", rules, reason="destroy as soon as possible")

    assert refused.value.http_status == 422
    assert named in refused.value.message
    assert "shorter than 1 year" in refused.value.message
    assert "CHARTVAULT_RETENTION_MIN_YEARS" in refused.value.message
    assert history(ext, "*") == [] and saved_events(ext) == []
    # Recorded in a transaction of its own: the refusal rolled the caller's back.
    (event,) = refused_events(ext)
    assert (event.actor, event.outcome) == ("compliance1", "refused")
    assert event.reason == refused.value.message
    assert event.details["rules"] == rules.to_json() and event.details["min_years"] == 1


def test_the_year_floor_is_configurable_and_a_permanent_policy_always_passes(ext, officer):
    with pytest.raises(PolicyBelowFloor, match="shorter than 3 years"), \
            ext.db.transaction() as session:
        save_policy(session, officer, "*", name="Two years", rules=Rules(
            after_last_encounter_years=2), source="HIM-12", reason="short", floors=Floors(3))
    with ext.db.transaction() as session:
        save_policy(session, officer, "birth_record", name="Forever", rules=Rules(
            permanent=True), source="HIM-12", reason="kept", floors=Floors(50))
        save_policy(session, officer, "*", name="Three years", rules=Rules(
            after_last_encounter_years=3), source="HIM-12", reason="short", floors=Floors(3))
    assert [version for version, _rules in history(ext, "*")] == [1]


def legacy_policy(ext, rules: Rules) -> int:
    """A policy stored before the floors existed: written straight to the table, as the
    upgrade finds it."""
    with ext.db.transaction() as session:
        policy = RetentionPolicy(doc_type="*", version=1, name="No retention",
                                 rules=rules.to_json(), source="legacy", created_by="former",
                                 reason="before the floors")
        session.add(policy)
        session.flush()
        return policy.id


def test_a_stored_policy_below_the_floor_counts_as_the_floor(ext, patient):
    legacy = legacy_policy(ext, Rules(after_last_encounter_years=0, after_death_years=0))
    document = file_document(ext, patient, served=date(2015, 3, 10))

    assert dated_by(disposition(ext, document)) == (date(2016, 3, 10), legacy)
    assert disposition(ext, document, Floors(min_years=4)).disposition_date == date(2019, 3, 10)


def test_no_document_is_due_before_the_age_floor_after_filing(ext, officer, patient):
    save(ext, officer, "*", Rules(after_last_encounter_years=1))
    filed = utcnow() - timedelta(days=10)
    fresh = file_document(ext, patient, served=date(2000, 1, 1), filed=filed)

    # The clock ended in 2001; the document was filed ten days ago.
    assert disposition(ext, fresh).disposition_date == filed.date() + timedelta(days=90)
    shorter = Floors(min_age_days=30)
    assert disposition(ext, fresh, shorter).disposition_date == filed.date() + timedelta(days=30)


def test_the_age_floor_never_dates_a_document_its_policy_keeps(ext, officer, patient):
    save(ext, officer, "*", Rules(after_death_years=5))  # a living patient: no clock applies
    document = file_document(ext, patient, served=date(2000, 1, 1))
    assert disposition(ext, document).disposition_date is None
