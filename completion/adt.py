"""Reading HL7 v2 ADT messages: from the text of one message to an ``AdtMessage`` that says
what happened (an admission, a discharge, ...), to whom and in which encounter, with no
database in sight. Parsing itself is the maintained ``hl7`` library's; this module knows
which fields hospitals fill, and how differently.

What varies between vendors and is read here: the encoding characters (MSH-1 and MSH-2 say
them, the library follows), line endings between segments (CR as the standard says, LF or
CRLF from file-based interfaces), PID-3 with several identifiers (the MRN is the one typed
MR or MRN, else the first), the visit number in PV1-19 or only in PID-18, and the times
with or without an offset (without one, the hospital's CHARTVAULT_HL7_TIMEZONE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

import hl7

from completion.models import ENCOUNTER_CLASSES

# The trigger events this increment acts on; anything else is answered AR.
SUPPORTED_EVENTS = {"A01": "admit", "A03": "discharge", "A04": "register", "A08": "update",
                    "A11": "cancel admit", "A13": "cancel discharge", "A40": "merge patient"}
MERGE = "A40"
# PV1-2 patient class (HL7 table 0004) to the archive's class. Observation and day surgery
# are not in table 0004: hospitals send them as a patient type in PV1-18, read first.
PATIENT_CLASSES = {"I": "inpatient", "B": "inpatient", "O": "outpatient", "R": "outpatient",
                   "E": "emergency"}
PATIENT_TYPES = {"OBS": "observation", "OBV": "observation", "DS": "day_surgery",
                 "DSU": "day_surgery", "SDC": "day_surgery", "AMB SURG": "day_surgery"}
MRN_TYPE_CODES = ("MR", "MRN")
MAX_IDENTIFIER = 64
_TIMESTAMP = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$")


class MalformedMessage(ValueError):
    """The text is not an HL7 v2 message the archive can read (answered AR)."""


class UnsupportedEvent(ValueError):
    """A readable message of a kind the archive does not act on (answered AR)."""


@dataclass(frozen=True)
class Header:
    """What identifies a message, read even when the rest of it cannot be: for the log,
    the resend check and the ACK."""

    sender: str
    receiver: tuple[str, str]
    control_id: str
    event: str
    processing_id: str
    version: str


@dataclass(frozen=True)
class Person:
    mrn: str
    name: str
    birth_date: date | None


@dataclass(frozen=True)
class Clinician:
    identifier: str
    name: str


@dataclass(frozen=True)
class Visit:
    number: str
    encounter_class: str | None  # None when PV1-2 was empty (an A08 that leaves it)
    admit_at: datetime | None
    discharge_at: datetime | None
    attending: Clinician | None
    department: str


@dataclass(frozen=True)
class AdtMessage:
    header: Header
    patient: Person
    visit: Visit | None  # None for a merge (A40), which names no visit
    event_time: datetime | None
    prior_mrn: str = ""  # MRG-1 of a merge


def parse_message(text: str) -> hl7.Message:
    """The library's parse of one message, any line ending between segments."""
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r\x00 ")
    if not text.startswith("MSH") or len(text) < 8:
        raise MalformedMessage("The message does not begin with an MSH segment.")
    try:
        return hl7.parse(text)
    except (hl7.ParseException, IndexError, ValueError) as err:
        raise MalformedMessage(f"The message cannot be parsed as HL7 v2: {err}.") from err


def read_header(message: hl7.Message) -> Header:
    control_id = _field(message, "MSH", 10)
    if not control_id:
        raise MalformedMessage("MSH-10 (message control id) is empty.")
    if len(control_id) > MAX_IDENTIFIER:
        raise MalformedMessage(f"MSH-10 is longer than {MAX_IDENTIFIER} characters.")
    sender = "^".join((_field(message, "MSH", 3), _field(message, "MSH", 4)))
    return Header(sender=sender[:200],
                  receiver=(_field(message, "MSH", 5), _field(message, "MSH", 6)),
                  control_id=control_id,
                  event=_field(message, "MSH", 9, component=2).upper()
                  or _field(message, "EVN", 1).upper(),
                  processing_id=_field(message, "MSH", 11) or "P",
                  version=_field(message, "MSH", 12) or "2.5")


def read_adt(message: hl7.Message, header: Header, zone: tzinfo) -> AdtMessage:
    """The ADT content of a message whose header was read; UnsupportedEvent for an event
    this increment does not handle, MalformedMessage for a missing or unreadable field."""
    kind = _field(message, "MSH", 9, component=1).upper()
    if kind != "ADT" or header.event not in SUPPORTED_EVENTS:
        raise UnsupportedEvent(
            f"Event {kind}^{header.event} is not handled; the archive acts on ADT "
            f"{', '.join(sorted(SUPPORTED_EVENTS))}.")
    merge = header.event == MERGE
    for segment in ("PID", "MRG" if merge else "PV1"):
        if not _has_segment(message, segment):
            raise MalformedMessage(f"An ADT^{header.event} needs a {segment} segment.")
    return AdtMessage(header=header, patient=_person(message, zone),
                      visit=None if merge else _visit(message, zone),
                      event_time=_time(_field(message, "EVN", 6) or _field(message, "EVN", 2),
                                       "EVN-6", zone),
                      prior_mrn=_mrn(message, "MRG", 1) if merge else "")


def _person(message: hl7.Message, zone: tzinfo) -> Person:
    mrn = _mrn(message, "PID", 3)
    family = _field(message, "PID", 5, component=1)
    given = " ".join(part for part in (_field(message, "PID", 5, component=2),
                                       _field(message, "PID", 5, component=3)) if part)
    name = f"{family}, {given}" if given else family
    birth = _time(_field(message, "PID", 7), "PID-7", zone)
    return Person(mrn=mrn, name=" ".join(name.upper().split()),
                  birth_date=birth.date() if birth else None)


def _mrn(message: hl7.Message, segment: str, field: int) -> str:
    """The medical record number of an identifier list (PID-3, MRG-1): the identifier typed
    MR (or MRN), else the first."""
    identifiers = []
    for repeat in range(1, 20):
        try:
            identifiers.append((_field(message, segment, field, repeat, 1),
                                _field(message, segment, field, repeat, 5).upper()))
        except IndexError:
            break
    typed = [value for value, kind in identifiers if value and kind in MRN_TYPE_CODES]
    untyped = [value for value, _ in identifiers if value]
    mrn = (typed or untyped or [""])[0]
    if not re.fullmatch(r"[A-Za-z0-9-]{1,32}", mrn):
        raise MalformedMessage(
            f"{segment}-{field} holds no usable MRN ({mrn!r}); an MRN is 1-32 letters, "
            "digits or dashes.")
    return mrn


def _visit(message: hl7.Message, zone: tzinfo) -> Visit:
    number = _field(message, "PV1", 19, component=1) or _field(message, "PID", 18, component=1)
    if not number:
        raise MalformedMessage("Neither PV1-19 nor PID-18 holds a visit number.")
    if len(number) > MAX_IDENTIFIER:
        raise MalformedMessage(f"The visit number is longer than {MAX_IDENTIFIER} characters.")
    attending_id = _field(message, "PV1", 7, component=1)
    attending = None
    if attending_id:
        family = _field(message, "PV1", 7, component=2)
        given = _field(message, "PV1", 7, component=3)
        name = f"{family}, {given}" if given else family
        attending = Clinician(attending_id[:MAX_IDENTIFIER], " ".join(name.split()) or
                              attending_id)
    department = (_field(message, "PV1", 10) or _field(message, "PV1", 3, component=1))
    return Visit(number=number, encounter_class=_class(message),
                 admit_at=_time(_field(message, "PV1", 44), "PV1-44", zone),
                 discharge_at=_time(_field(message, "PV1", 45), "PV1-45", zone),
                 attending=attending, department=department[:100])


def _class(message: hl7.Message) -> str | None:
    patient_type = _field(message, "PV1", 18).upper()
    if patient_type in PATIENT_TYPES:
        return PATIENT_TYPES[patient_type]
    code = _field(message, "PV1", 2).upper()
    if not code:
        return None
    if code not in PATIENT_CLASSES:
        raise MalformedMessage(
            f"PV1-2 patient class {code!r} is not one the archive knows "
            f"({', '.join(PATIENT_CLASSES)}; observation and day surgery in PV1-18).")
    return PATIENT_CLASSES[code]


def parse_time(text: str, zone: tzinfo) -> datetime | None:
    """An HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) as an aware UTC-comparable
    datetime; without an offset it is the hospital's local time. None for an empty one."""
    match = _TIMESTAMP.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an HL7 time (YYYYMMDDHHMM[SS][+ZZZZ])")
    year, month, day, hour, minute, second, offset = match.groups()
    moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                      int(minute or 0), int(second or 0))
    if offset:
        sign = 1 if offset[0] == "+" else -1
        minutes = sign * (int(offset[1:3]) * 60 + int(offset[3:5]))
        return moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    return moment.replace(tzinfo=zone)


def _time(text: str, where: str, zone: tzinfo) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time(text, zone)
    except ValueError as err:
        raise MalformedMessage(f"{where}: {err}.") from None


def _has_segment(message: hl7.Message, name: str) -> bool:
    try:
        message.segment(name)
    except KeyError:
        return False
    return True


def _field(message: hl7.Message, segment: str, field: int, repeat: int = 1,
           component: int = 1) -> str:
    """One component of a field, unescaped (\\T\\ is &, \\S\\ ^, \\F\\ |), stripped; "" when
    the segment or field is absent. IndexError past the last repetition."""
    if not _has_segment(message, segment):
        return ""
    value = message.extract_field(segment, 1, field, repeat, component)
    return str(value).strip()


def escaped(text: str) -> str:
    """Text made safe inside one HL7 field (for the ACK's MSA-3)."""
    for raw, escape in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"),
                        ("~", "\\R\\"), ("\r", " "), ("\n", " ")):
        text = text.replace(raw, escape)
    return text


__all__ = ["ENCOUNTER_CLASSES", "AdtMessage", "Header", "MalformedMessage", "UnsupportedEvent",
           "parse_message", "read_adt", "read_header", "parse_time", "escaped"]
