"""One HL7 message in, one acknowledgement out. Each message is logged (hl7_messages) and
its change committed in one transaction before the ACK is built, so an AA always means
"stored"; a message the archive cannot act on is logged alone, in a transaction of its
own, and answered AE (the hospital's systems and the archive disagree: an unknown
encounter to discharge) or AR (malformed, or an event this increment does not handle).

A sender's message control id (MSH-10) is unique: a resend is answered with the code it
got the first time and changes nothing. When the database cannot be reached the answer is
AE with nothing stored, and the sender resends later, as senders do."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import tzinfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from archive.auth.permissions import SYSTEM_ROLE, Principal
from archive.errors import ArchiveError
from archive.models import utcnow
from completion import adt
from completion.encounters import Change, apply
from completion.merge import merge_patients
from completion.models import Hl7Message

log = logging.getLogger(__name__)
ACCEPT, ERROR, REJECT = "AA", "AE", "AR"
MAX_LOGGED = 64 * 1024  # the raw text kept of one message (a real ADT is a few KiB)


@dataclass(frozen=True)
class Outcome:
    ack_code: str
    error: str
    header: adt.Header | None

    def ack(self) -> str:
        return build_ack(self.header, self.ack_code, self.error)


def receive(ext, text: str, peer: str, zone: tzinfo) -> Outcome:
    """Act on one message's text and say how it is to be acknowledged."""
    try:
        message = adt.parse_message(text)
        header = adt.read_header(message)
    except adt.MalformedMessage as err:
        return _logged(ext, text, peer, None, REJECT, str(err))
    earlier = _earlier_answer(ext, header)
    if earlier is not None:
        return earlier
    try:
        content = adt.read_adt(message, header, zone)
    except (adt.MalformedMessage, adt.UnsupportedEvent) as err:
        return _logged(ext, text, peer, header, REJECT, str(err))
    return _applied(ext, text, peer, header, content, zone)


def header_of(text: str) -> adt.Header | None:
    """The header of a message, if it can be read (for an ACK when all else failed)."""
    try:
        return adt.read_header(adt.parse_message(text))
    except adt.MalformedMessage:
        return None


def _applied(ext, text, peer, header, content: adt.AdtMessage, zone) -> Outcome:
    principal = Principal(f"hl7:{header.sender}"[:120], SYSTEM_ROLE, source="hl7")
    try:
        with ext.db.transaction() as session:
            # The change first: a legal hold's veto of a merge is audited in a transaction
            # of its own, which must not wait on a row this one already wrote.
            if content.visit is None:
                merge_patients(ext, session, principal, content.patient, content.prior_mrn)
            else:
                apply(session, principal, Change(header.event, content.patient, content.visit,
                                                 content.event_time), "hl7", zone)
            session.add(_row(text, peer, header, ACCEPT, ""))
            session.flush()  # the control id's uniqueness decides a race of two resends
        return Outcome(ACCEPT, "", header)
    except ArchiveError as err:
        return _logged(ext, text, peer, header, ERROR, err.message)
    except IntegrityError:
        # Another connection stored this control id meanwhile: answer as it was answered.
        earlier = _earlier_answer(ext, header)
        return earlier or _logged(ext, text, peer, header, ERROR,
                                  "A concurrent change conflicted; send the message again.")
    except OperationalError:
        log.exception("HL7 message %s not stored: database unavailable", header.control_id)
        return Outcome(ERROR, "The archive's database is unavailable; send the message again.",
                       header)


def _earlier_answer(ext, header: adt.Header) -> Outcome | None:
    with ext.db.transaction() as session:
        earlier = session.execute(
            select(Hl7Message.ack_code, Hl7Message.error).where(
                Hl7Message.sender == header.sender,
                Hl7Message.control_id == header.control_id)).first()
    return Outcome(earlier.ack_code, earlier.error, header) if earlier else None


def _logged(ext, text, peer, header, code: str, error: str) -> Outcome:
    """Keep a message that changed nothing, with why."""
    try:
        with ext.db.transaction() as session:
            session.add(_row(text, peer, header, code, error))
    except IntegrityError:
        earlier = _earlier_answer(ext, header)
        if earlier is not None:
            return earlier
        raise
    except OperationalError:
        log.exception("HL7 message not logged: database unavailable")
    return Outcome(code, error, header)


def _row(text: str, peer: str, header: adt.Header | None, code: str, error: str) -> Hl7Message:
    return Hl7Message(sender=header.sender if header else "",
                      control_id=header.control_id if header else None,
                      event=header.event[:16] if header else "",
                      raw=text[:MAX_LOGGED], ack_code=code, error=error, peer=peer[:64],
                      received_at=utcnow())


def build_ack(header: adt.Header | None, code: str, error: str) -> str:
    """An original-mode ACK (MSH + MSA, MSA-3 the reason), with the standard encoding
    characters whatever the message used."""
    stamp = utcnow().strftime("%Y%m%d%H%M%S+0000")
    if header is None:
        header = adt.Header(sender="^", receiver=("", ""), control_id="", event="",
                            processing_id="P", version="2.5")
    app, _, facility = header.sender.partition("^")
    fields = ["MSH", "^~\\&", "CHARTVAULT", "HIM", adt.escaped(app), adt.escaped(facility),
              stamp, "", f"ACK^{adt.escaped(header.event)}^ACK",
              f"CV{utcnow().strftime('%Y%m%d%H%M%S%f')}", adt.escaped(header.processing_id),
              adt.escaped(header.version)]
    msa = ["MSA", code, adt.escaped(header.control_id), adt.escaped(error[:200])]
    return "|".join(fields) + "\r" + "|".join(msa) + "\r"
