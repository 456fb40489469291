"""ADT messages over a real MLLP socket, on both databases: what each event does to the
encounters, and how each message is acknowledged and logged."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime

from sqlalchemy import select

from archive.models import AuditEvent, Patient
from completion.hl7_listener import END, START, exchange
from completion.models import Encounter, Hl7Message, Provider
from tests.completion import adt_messages as adt
from tests.completion.adt_messages import message


def test_admit_then_discharge_gives_an_encounter_with_both_times(hl7_feed):
    admitted = hl7_feed.send(message(adt.EPIC_A01))
    assert (admitted.code, admitted.control_id) == ("AA", "EPIC-0001")
    assert admitted.segments[0][8] == "ACK^A01^ACK"
    encounter = hl7_feed.encounter("4001234567")
    assert encounter.status == "admitted" and encounter.encounter_class == "inpatient"
    assert encounter.admit_at == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    assert encounter.discharge_at is None and encounter.department == "MED"

    discharged = hl7_feed.send(message(adt.EPIC_A03))
    assert discharged.code == "AA"
    encounter = hl7_feed.encounter("4001234567")
    assert encounter.status == "discharged"
    assert encounter.discharge_at == datetime(2026, 11, 6, 14, 15, tzinfo=UTC)
    assert [row[2] for row in hl7_feed.logged()] == ["AA", "AA"]


def test_an_unknown_patient_is_registered_from_pid_with_the_mrn_typed_mr(hl7_feed):
    hl7_feed.send(message(adt.EPIC_A01))
    with hl7_feed.ext.db.transaction() as session:
        patient = session.scalar(select(Patient))
        provider = session.scalar(select(Provider))
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    # PID-3 repeats (an SSN too); \T\ in the family name is an ampersand.
    assert (patient.mrn, patient.name, patient.dob) == (
        "E1001", "O&BRIEN, MARY ANN", date(1980, 2, 14))
    assert (provider.identifier, provider.name, provider.department) == (
        "1234567890", "HOUSE, GREGORY", "MED")
    assert actions == ["patient.create", "encounter.admit"]


def test_a_cerner_like_feed_with_offsets_pid18_and_escapes(hl7_feed):
    registered = hl7_feed.send(message(adt.CERNER_A04, newline="\n"))
    assert registered.code == "AA", registered.reason
    encounter = hl7_feed.encounter("FIN-990011")  # the visit number only in PID-18
    assert encounter.encounter_class == "observation"  # PV1-18 patient type OBS
    assert encounter.status == "registered"
    assert encounter.admit_at == datetime(2026, 11, 4, 4, 15, tzinfo=UTC)  # -0600
    assert hl7_feed.send(message(adt.CERNER_A03, newline="\r\n")).code == "AA"
    encounter = hl7_feed.encounter("FIN-990011")
    assert encounter.discharge_at == datetime(2026, 11, 4, 17, 5, tzinfo=UTC)
    assert encounter.department == "L&D"  # \T\
    with hl7_feed.ext.db.transaction() as session:
        # The second identifier, typed MRN, not the corporate one; \S\ is a caret.
        assert session.scalar(select(Patient.name).where(Patient.mrn == "SMH-55012")) == (
            "NGUYEN^TRAN, LINH")


def test_hl7_2_7_and_a_legacy_systems_own_encoding_characters(hl7_feed):
    assert hl7_feed.send(message(adt.MEDITECH_A01)).code == "AA"
    emergency = hl7_feed.encounter("MV-77001")
    # EVN-2 only: the admit time is PV1-44's.
    assert emergency.encounter_class == "emergency"
    assert emergency.admit_at == datetime(2026, 11, 4, 3, 10, tzinfo=UTC)
    legacy = hl7_feed.send(message(adt.LEGACY_A04))
    assert legacy.code == "AA", legacy.reason
    surgery = hl7_feed.encounter("SMC-DS-42")
    assert surgery.encounter_class == "day_surgery"
    with hl7_feed.ext.db.transaction() as session:
        # $T$ is this system's escape for its own subcomponent separator, %.
        assert session.scalar(select(Patient.name).where(Patient.mrn == "SMC-9001")) == (
            "KIM%LEE, SOO")


def test_an_update_changes_the_department_and_the_attending(hl7_feed):
    hl7_feed.send(message(adt.EPIC_A01))
    assert hl7_feed.send(message(adt.EPIC_A08)).code == "AA"
    encounter = hl7_feed.encounter("4001234567")
    with hl7_feed.ext.db.transaction() as session:
        attending = session.get(Provider, encounter.attending_id)
        assert (attending.identifier, attending.name) == ("1987654321", "WILSON, JAMES")
    assert encounter.department == "CARD" and encounter.status == "admitted"


def test_cancel_admit_and_cancel_discharge(hl7_feed):
    hl7_feed.send(message(adt.EPIC_A01))
    hl7_feed.send(message(adt.EPIC_A03))
    refused = hl7_feed.send(message(adt.EPIC_A11))
    # A discharged encounter's admission is not cancelled before its discharge.
    assert refused.code == "AE" and "A13" in refused.reason
    assert hl7_feed.send(message(adt.EPIC_A13)).code == "AA"
    reopened = hl7_feed.encounter("4001234567")
    assert (reopened.status, reopened.discharge_at) == ("admitted", None)
    assert hl7_feed.send(message(adt.with_control_id(adt.EPIC_A11, "EPIC-0006"))).code == "AA"
    assert hl7_feed.encounter("4001234567").status == "cancelled"


def test_a_discharge_of_an_unknown_encounter_is_answered_ae_and_stores_nothing(hl7_feed):
    answer = hl7_feed.send(message(adt.EPIC_A03))
    assert answer.code == "AE"
    assert "4001234567" in answer.reason and "admission" in answer.reason
    # Not even the patient PID named: the whole change rolled back, only the log stays.
    assert hl7_feed.count(Patient) == 0 and hl7_feed.count(Encounter) == 0
    assert hl7_feed.logged() == [("EPIC-0002", "A03", "AE", answer.reason)]


def test_an_unsupported_event_is_answered_ar_and_only_logged(hl7_feed):
    for segments, event in ((adt.ORU_R01, "R01"), (adt.EPIC_A31, "A31")):
        answer = hl7_feed.send(message(segments))
        assert answer.code == "AR" and event in answer.reason
    assert hl7_feed.count(Patient) == 0 and hl7_feed.count(Encounter) == 0
    assert [row[2] for row in hl7_feed.logged()] == ["AR", "AR"]


def test_malformed_messages_are_answered_ar_and_only_logged(hl7_feed):
    answers = [hl7_feed.send(message(segments))
               for segments in (adt.NO_PV1, adt.BAD_TIME, adt.NO_CONTROL_ID)]
    answers.append(hl7_feed.send("THIS IS NOT HL7\r"))
    assert [a.code for a in answers] == ["AR"] * 4
    assert "PV1" in answers[0].reason
    assert "PV1-44" in answers[1].reason
    assert "MSH-10" in answers[2].reason and "MSH" in answers[3].reason
    assert hl7_feed.count(Patient) == 0 and hl7_feed.count(Encounter) == 0
    assert [row[0] for row in hl7_feed.logged()] == ["EPIC-BAD1", "EPIC-BAD2", None, None]


def test_a_resend_of_a_control_id_is_acknowledged_again_and_changes_nothing(hl7_feed):
    hl7_feed.send(message(adt.EPIC_A01))
    hl7_feed.send(message(adt.EPIC_A03))
    hl7_feed.send(message(adt.EPIC_A13))
    with hl7_feed.ext.db.transaction() as session:
        events = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()))
    resent = hl7_feed.send(message(adt.EPIC_A03))  # the discharge again, same control id
    assert (resent.code, resent.control_id) == ("AA", "EPIC-0002")
    assert hl7_feed.encounter("4001234567").status == "admitted"  # not discharged again
    with hl7_feed.ext.db.transaction() as session:
        assert session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())) == events
    assert hl7_feed.count(Hl7Message) == 3
    # An AE is answered AE again, with its reason.
    first = hl7_feed.send(message(adt.with_control_id(adt.EPIC_A13, "X-1")))  # not discharged
    assert first.code == "AE" and "not discharged" in first.reason
    assert hl7_feed.send(message(adt.with_control_id(adt.EPIC_A13, "X-1"))).reason == first.reason


def test_several_messages_on_one_connection_in_split_frames(hl7_feed):
    """An interface engine keeps its connection open; TCP may cut a frame anywhere, and some
    engines send a newline between frames."""
    with socket.create_connection(("127.0.0.1", hl7_feed.port), timeout=10) as connection:
        first = message(adt.EPIC_A01).encode()
        connection.sendall(b"\n" + START + first[:40])
        connection.sendall(first[40:] + END)
        reply = b""
        while not reply.endswith(END):
            reply += connection.recv(4096)
        assert b"MSA|AA|EPIC-0001" in reply
        assert "MSA|AA|EPIC-0002" in exchange(connection, message(adt.EPIC_A03))
    assert hl7_feed.encounter("4001234567").status == "discharged"
