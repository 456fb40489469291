"""The web upload form: reading what the clerk typed, and filing each attached file through
the records service. The service has the final word on every rule; the checks here only
catch what concerns the whole batch (the patient, the type, the date), so a wrong MRN is
reported once at its field rather than once per file."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from archive.auth.permissions import Principal
from archive.errors import ArchiveError, BadRequest, NotFound, UnknownPatient
from archive.extensions import Archive
from archive.interfaces import Upload
from archive.models import Patient
from archive.params import parse_date
from archive.records.filing import add_document
from archive.records.formats import DOC_TYPE_PATTERN
from archive.records.patients import find_patient
from ingest.doctypes import DOCUMENT_TYPES

OTHER_TYPE = "other"
# Most common types first would be guesswork; the list keeps the rules' order, which
# puts the high-volume reports near the top.
TYPE_CHOICES: tuple[tuple[str, str], ...] = tuple(
    (name, name.replace("_", " ").capitalize()) for name in DOCUMENT_TYPES
)


def doc_type_from(choice: str, other: str) -> str:
    """The type chosen in the select, or the one typed under "Other" (as a type name:
    "Nursing note" becomes nursing_note)."""
    choice = (choice or "").strip()
    other = re.sub(r"[^a-z0-9]+", "_", (other or "").strip().lower()).strip("_")
    if choice in ("", OTHER_TYPE):
        return other
    return choice


@dataclass(frozen=True)
class UploadForm:
    """What the clerk typed on the upload page, as typed."""

    mrn: str = ""
    doc_type_choice: str = ""
    doc_type_other: str = ""
    date_of_service: str = ""
    department: str = ""

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> UploadForm:
        return cls(
            mrn=form.get("mrn", "").strip(),
            doc_type_choice=form.get("doc_type", "").strip(),
            doc_type_other=form.get("doc_type_other", "").strip(),
            date_of_service=form.get("date_of_service", "").strip(),
            department=form.get("department", "").strip(),
        )

    @property
    def doc_type(self) -> str:
        return doc_type_from(self.doc_type_choice, self.doc_type_other)

    def check(self, session: Session) -> tuple[Patient | None, dict[str, ArchiveError]]:
        """The patient named by the MRN, and the problems of the batch by field name."""
        problems: dict[str, ArchiveError] = {}
        patient = None
        if not self.mrn:
            problems["mrn"] = BadRequest("Enter the patient's MRN, e.g. MRN-1001.")
        else:
            try:
                patient = find_patient(session, self.mrn)
            except NotFound:
                problems["mrn"] = UnknownPatient(
                    f"No patient with MRN {self.mrn} is registered. Check the number on the "
                    "chart, or register the patient first."
                )
        if self.doc_type_choice == OTHER_TYPE and not self.doc_type:
            problems["doc_type_other"] = BadRequest("Type the document type, e.g. nursing note.")
        elif not self.doc_type:
            problems["doc_type"] = BadRequest("Choose the type of document.")
        elif not DOC_TYPE_PATTERN.match(self.doc_type):
            problems["doc_type_other"] = BadRequest(
                "A document type is 2-64 letters or digits, e.g. nursing note."
            )
        try:
            parse_date(self.date_of_service, "The date of service")
        except BadRequest as err:
            problems["date_of_service"] = err
        return patient, problems

    @property
    def service_date(self) -> date | None:
        return parse_date(self.date_of_service, "The date of service")


@dataclass(frozen=True)
class FileOutcome:
    """What became of one attached file."""

    filename: str
    status: str  # accepted, duplicate or refused
    document_id: int | None = None
    version: int | None = None
    error: ArchiveError | None = field(default=None, compare=False)

    @property
    def http_status(self) -> int:
        if self.error is not None:
            return self.error.http_status
        return 200 if self.status == "duplicate" else 202


def file_batch(
    ext: Archive,
    principal: Principal,
    form: UploadForm,
    files: Iterable[Upload],
) -> list[FileOutcome]:
    """File every upload as its own document; a refused file does not stop the others."""
    outcomes = []
    for upload in files:
        try:
            filing = add_document(
                ext,
                principal,
                mrn=form.mrn,
                doc_type=form.doc_type,
                upload=upload,
                date_of_service=form.service_date,
                department=form.department or None,
            )
        except ArchiveError as err:
            outcomes.append(FileOutcome(upload.filename, "refused", error=err))
            continue
        version = filing.version
        outcomes.append(
            FileOutcome(
                upload.filename,
                "duplicate" if filing.duplicate else "accepted",
                document_id=version.document_id,
                version=version.number,
            )
        )
    return outcomes
