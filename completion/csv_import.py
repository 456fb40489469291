"""The first load of encounters from a CSV export of the hospital's ADT system
(`chartvault encounters import FILE.csv`).

Columns (a header line names them, in any order): number, mrn, class, admit, discharge,
attending, department, and optionally attending_name. Times are ISO 8601
(2026-11-02T08:30, a space instead of the T, or a date alone), in the hospital's
CHARTVAULT_HL7_TIMEZONE unless they carry an offset; discharge may be empty.

The whole file is one transaction: a bad line is reported with its line number and
nothing of the file is imported. A first load is fixed and run again as a whole; half a
load would leave the archive matching documents against an incomplete history. Running a
file again updates the encounters it names (their number is unique), so it never doubles.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from pathlib import Path

from sqlalchemy import select

from archive import audit
from archive.auth.permissions import Principal
from archive.errors import ArchiveError, BadRequest
from archive.models import Patient
from completion.adt import MAX_IDENTIFIER, Clinician, Person, Visit
from completion.encounters import Change, apply, check_class
from completion.models import Encounter

REQUIRED = ("number", "mrn", "class", "admit", "discharge", "attending", "department")
MAX_ERRORS = 50  # enough to fix a file; not a wall of text


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


class ImportRefused(BadRequest):
    """The file had bad lines; nothing of it was imported."""

    def __init__(self, errors: list[tuple[int, str]]):
        lines = "\n".join(f"  line {line}: {problem}" for line, problem in errors[:MAX_ERRORS])
        more = len(errors) - MAX_ERRORS
        super().__init__(f"Nothing was imported: {len(errors)} bad line(s). Fix them and "
                         f"import the file again.\n{lines}"
                         + (f"\n  ... and {more} more" if more > 0 else ""))
        self.errors = errors


def import_encounters(ext, principal: Principal, path: Path, zone: tzinfo) -> ImportReport:
    try:
        return _import(ext, principal, path, zone)
    except UnicodeDecodeError as err:
        raise BadRequest(f"The file is not UTF-8 text (byte {err.start}); save it as CSV "
                         "UTF-8 and import it again. Nothing was imported.") from None


def _import(ext, principal: Principal, path: Path, zone: tzinfo) -> ImportReport:
    report = ImportReport()
    with ext.db.transaction() as session, path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
        if missing:
            raise BadRequest(f"The header line lacks the column(s) {', '.join(missing)}; "
                             f"give {', '.join(REQUIRED)}.")
        seen: set[str] = set()
        for row in reader:
            line = reader.line_num
            try:
                change = _change_of(session, row, zone, seen)
                if report.errors:
                    continue  # nothing will be kept: only look for more bad lines
                known = session.scalar(select(Encounter.id).where(
                    Encounter.number == change.visit.number))
                apply(session, principal, change, "csv", zone)
                report.created += known is None
                report.updated += known is not None
            except ArchiveError as err:
                report.errors.append((line, err.message))
        if report.errors:
            raise ImportRefused(report.errors)  # rolls the whole file back
        audit.record(session, principal.actor, "encounter.import",
                     details={"file": path.name, "created": report.created,
                              "updated": report.updated})
    return report


def _change_of(session, row: dict, zone: tzinfo, seen: set[str]) -> Change:
    number = _text(row, "number", MAX_IDENTIFIER, required=True)
    if number in seen:
        raise BadRequest(f"Encounter {number} is on an earlier line too.")
    seen.add(number)
    mrn = _text(row, "mrn", 32, required=True)
    if session.scalar(select(Patient.id).where(Patient.mrn == mrn)) is None:
        raise BadRequest(f"MRN {mrn} is not registered; register the patient first "
                         "(`chartvault patient add`).")
    admit = _moment(row, "admit", zone, required=True)
    discharge = _moment(row, "discharge", zone)
    if discharge and discharge < admit:
        raise BadRequest("The discharge is before the admission.")
    attending = _text(row, "attending", MAX_IDENTIFIER)
    name = _text(row, "attending_name", 200) or attending
    return Change("A08", Person(mrn=mrn, name="", birth_date=None),
                  Visit(number=number, encounter_class=check_class(row.get("class") or ""),
                        admit_at=admit, discharge_at=discharge,
                        attending=Clinician(attending, name) if attending else None,
                        department=_text(row, "department", 100)))


def _text(row: dict, column: str, limit: int, *, required: bool = False) -> str:
    value = " ".join((row.get(column) or "").split())
    if required and not value:
        raise BadRequest(f"The {column} is empty.")
    if len(value) > limit:
        raise BadRequest(f"The {column} is longer than {limit} characters.")
    if not value.isprintable():
        raise BadRequest(f"The {column} contains control characters.")
    return value


def _moment(row: dict, column: str, zone: tzinfo, *, required: bool = False) -> datetime | None:
    text = (row.get(column) or "").strip()
    if not text:
        if required:
            raise BadRequest(f"The {column} time is empty.")
        return None
    try:
        moment = (datetime.combine(date.fromisoformat(text), time())
                  if len(text) == 10 else datetime.fromisoformat(text))
    except ValueError:
        raise BadRequest(f"The {column} time {text!r} is not ISO 8601 (YYYY-MM-DDTHH:MM, "
                         "or YYYY-MM-DD).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
