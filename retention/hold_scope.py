"""What a legal hold covers, as one SQL condition on the documents table.

Coverage is always computed from the documents' current fields, never from a list of ids
taken when the hold was placed: a hold must also cover the matching documents filed later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from archive.errors import BadRequest
from archive.models import Document, Patient
from archive.params import parse_date
from archive.records.formats import DOC_TYPE_PATTERN, MRN_PATTERN
from retention.models import LegalHold

SCOPE_PARTS = ("mrns", "document_ids", "types", "from", "to")
# Far beyond any real matter, and well within every database's limit on bound values.
MAX_SCOPE_VALUES = 1000


@dataclass(frozen=True)
class Scope:
    """The given parts combine with AND; each list matches any of its values.

    A date-of-service range also covers documents with no date of service recorded: nobody
    can show that they fall outside it, and a hold must rather keep too much than too little.
    """

    mrns: tuple[str, ...] = ()
    document_ids: tuple[int, ...] = ()
    types: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None

    def as_json(self) -> dict:
        """The stored form (LegalHold.scope): only the parts that were given."""
        parts = {
            "mrns": list(self.mrns),
            "document_ids": list(self.document_ids),
            "types": list(self.types),
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
        }
        return {part: value for part, value in parts.items() if value}

    def clause(self) -> ColumnElement[bool]:
        """True for the documents this scope covers (a condition on Document)."""
        conditions = []
        if self.mrns:
            patients = select(Patient.id).where(Patient.mrn.in_(self.mrns))
            conditions.append(Document.patient_id.in_(patients))
        if self.document_ids:
            conditions.append(Document.id.in_(self.document_ids))
        if self.types:
            conditions.append(Document.doc_type.in_(self.types))
        undated = Document.date_of_service.is_(None)
        if self.date_from:
            conditions.append(or_(undated, Document.date_of_service >= self.date_from))
        if self.date_to:
            conditions.append(or_(undated, Document.date_of_service <= self.date_to))
        return and_(*conditions)

    def described(self) -> list[tuple[str, str]]:
        """(label, value) lines for people reading the hold."""
        lines = []
        if self.mrns:
            lines.append(("Patients (MRN)", ", ".join(self.mrns)))
        if self.document_ids:
            lines.append(("Documents", ", ".join(f"#{i}" for i in self.document_ids)))
        if self.types:
            lines.append(("Document types", ", ".join(self.types)))
        if self.date_from or self.date_to:
            start = self.date_from.isoformat() if self.date_from else "any date"
            end = self.date_to.isoformat() if self.date_to else "any date"
            lines.append(("Date of service", f"{start} to {end}, and undated documents"))
        return lines


def scope_of(hold: LegalHold) -> Scope:
    """The scope a hold was stored with (validated when it was placed)."""
    stored = hold.scope
    return Scope(
        mrns=tuple(stored.get("mrns", ())),
        document_ids=tuple(stored.get("document_ids", ())),
        types=tuple(stored.get("types", ())),
        date_from=date.fromisoformat(stored["from"]) if stored.get("from") else None,
        date_to=date.fromisoformat(stored["to"]) if stored.get("to") else None,
    )


# --- reading a scope from a request ------------------------------------------------------------


def parse_scope(raw: object) -> Scope:
    """A Scope from JSON-like input ({"mrns": [...], ..., "from": "YYYY-MM-DD"}), or a
    BadRequest saying what to fix. Whether the MRNs and documents exist is checked by the
    caller, against the database."""
    if not isinstance(raw, dict):
        raise BadRequest(
            "Give the hold's scope as an object with any of: mrns, document_ids, types, "
            "from, to."
        )
    unknown = sorted(set(raw) - set(SCOPE_PARTS))
    if unknown:
        raise BadRequest(
            f"The scope has no part named {', '.join(unknown)}; use mrns, document_ids, "
            "types, from and to."
        )
    scope = Scope(
        mrns=_values(raw, "mrns", _checked_mrn),
        document_ids=_values(raw, "document_ids", _checked_document_id),
        types=_values(raw, "types", _checked_type),
        date_from=_date(raw, "from"),
        date_to=_date(raw, "to"),
    )
    if scope == Scope():
        raise BadRequest(
            "Say what the hold covers: patients (MRNs), documents, document types, a "
            "date-of-service range, or a combination."
        )
    if scope.date_from and scope.date_to and scope.date_from > scope.date_to:
        raise BadRequest(
            f"The date range ends ({scope.date_to}) before it starts ({scope.date_from}); "
            "check both dates."
        )
    return scope


def _values(raw: dict, part: str, check: Callable[[object], object]) -> tuple:
    values = raw.get(part) or []
    if not isinstance(values, list):
        raise BadRequest(f"The scope's {part} must be a list.")
    if len(values) > MAX_SCOPE_VALUES:
        raise BadRequest(
            f"The scope lists more than {MAX_SCOPE_VALUES} {part}; split the matter into "
            "several holds, or scope it by type and dates instead."
        )
    return tuple(dict.fromkeys(check(value) for value in values))  # no duplicates, in order


def _checked_mrn(value: object) -> str:
    mrn = value.strip() if isinstance(value, str) else ""
    if not MRN_PATTERN.match(mrn):
        raise BadRequest(f"{value!r} is not an MRN: an MRN is 1-32 letters, digits or dashes.")
    return mrn


def _checked_document_id(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"{value!r} is not a document number (a whole number, e.g. 12).")
    return value


def _checked_type(value: object) -> str:
    doc_type = value.strip().lower() if isinstance(value, str) else ""
    if not DOC_TYPE_PATTERN.match(doc_type):
        raise BadRequest(
            f"{value!r} is not a document type: 2-64 lowercase letters, digits or "
            "underscores, e.g. discharge_summary."
        )
    return doc_type


def _date(raw: dict, part: str) -> date | None:
    value = raw.get(part)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"The scope's {part} must be a date written YYYY-MM-DD.")
    return parse_date(value, f"The scope's {part}")


# --- coverage ------------------------------------------------------------------------------


def in_force() -> ColumnElement[bool]:
    return LegalHold.released_at.is_(None)


def holds_in_force(session: Session) -> list[LegalHold]:
    return list(session.scalars(select(LegalHold).where(in_force()).order_by(LegalHold.id)))


def held_clause(session: Session) -> ColumnElement[bool]:
    """True for the documents some hold in force covers (false when none is in force)."""
    clauses = [scope_of(hold).clause() for hold in holds_in_force(session)]
    return or_(*clauses) if clauses else false()


def holds_covering(session: Session, document: Document) -> list[LegalHold]:
    """The holds in force that cover the document, oldest first."""
    return [
        hold
        for hold in holds_in_force(session)
        if session.scalar(
            select(Document.id).where(Document.id == document.id, scope_of(hold).clause())
        )
        is not None
    ]


def covered_documents(hold: LegalHold) -> Select:
    """The documents in the hold's scope now (a query, for a page of the list)."""
    return select(Document).where(scope_of(hold).clause()).order_by(Document.id)


def count_covered(session: Session, hold: LegalHold) -> int:
    return session.scalar(select(func.count(Document.id)).where(scope_of(hold).clause()))
