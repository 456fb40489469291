"""Logging a new request, as the API and the "New request" page both do it: each turns what
it was sent into the API's own shape (release.schemas.NewRequest), validated by the same rules,
and hands it to ``log_from`` and so to release.requests.log_request. The page's form is read
here: its fields as typed (to show them again after a refusal), and each problem named by the
field's label with what to write instead, against the field it concerns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from archive.auth.permissions import Principal
from archive.errors import BadRequest
from archive.params import MAX_ID, parse_date
from release.models import ReleaseRequest
from release.requests import Asked, Requester, log_request
from release.schemas import NewRequest

# The form's fields, in the order the page shows them, with their labels.
LABELS = {
    "mrn": "MRN", "request_type": "Kind of request", "requester_kind": "Requester is",
    "requester_name": "Requester's name", "requester_address": "Requester's address",
    "requester_contact": "Contact (telephone or e-mail)", "claim_number": "Claim number",
    "legal_basis": "Legal basis", "received": "Received on", "purpose": "Purpose",
    "complete_chart": "The complete chart", "types": "Document types", "from": "Dated from",
    "to": "Dated to", "document_ids": "Document numbers", "assignee": "Assignee",
}
TEXT_FIELDS = ("mrn", "request_type", "requester_kind", "requester_name", "requester_address",
               "requester_contact", "claim_number", "legal_basis", "received", "purpose",
               "types", "from", "to", "document_ids", "assignee")
# Where each part of the API's shape comes from on the form.
FIELD_OF = {("requester", "kind"): "requester_kind", ("requester", "name"): "requester_name",
            ("requester", "address"): "requester_address",
            ("requester", "contact"): "requester_contact",
            ("requester", "claim_number"): "claim_number", ("documents", "types"): "types",
            ("documents", "from"): "from", ("documents", "to"): "to",
            ("documents", "document_ids"): "document_ids",
            ("documents", "complete_chart"): "complete_chart"}
PATTERN_HINTS = {
    "mrn": "must be 1-32 letters, digits or dashes, as on the chart",
    "types": "must be document types as the archive names them, such as discharge_summary "
             "(lowercase letters, digits and underscores), separated by commas",
    "received": "must be a date written YYYY-MM-DD",
    "from": "must be a date written YYYY-MM-DD", "to": "must be a date written YYYY-MM-DD",
}
_SEPARATORS = re.compile(r"[\s,;]+")
_NUMBER = re.compile(r"^[0-9]{1,10}$")


class FormProblems(Exception):
    """The form cannot be logged as typed: one message per field, by the field's name."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@dataclass
class TypedRequest:
    """The form as the clerk filled it in, to show again after a refusal."""

    values: dict[str, str] = field(default_factory=dict)
    complete_chart: bool = True

    @classmethod
    def blank(cls, today: date) -> TypedRequest:
        return cls({"request_type": "records", "requester_kind": "patient",
                    "legal_basis": "right_of_access", "received": today.isoformat()})

    @classmethod
    def of(cls, form: MultiDict) -> TypedRequest:
        return cls({name: form.get(name, "").strip() for name in TEXT_FIELDS},
                   complete_chart=form.get("complete_chart") == "yes")


def read_form(typed: TypedRequest) -> NewRequest:
    """The API's shape of the typed form; FormProblems naming every field that is wrong."""
    values = typed.values
    problems: dict[str, str] = {}
    ids = _document_ids(values.get("document_ids", ""), problems)
    types = [name for name in _SEPARATORS.split(values.get("types", "")) if name]
    if not (typed.complete_chart or types or ids or values.get("from") or values.get("to")):
        problems["complete_chart"] = ("Say what is asked for: tick “The complete chart”, or "
                                      "give document types, dates or document numbers.")
    body = {
        "mrn": values.get("mrn", ""), "legal_basis": values.get("legal_basis", ""),
        "received": values.get("received", ""), "purpose": values.get("purpose", ""),
        "request_type": values.get("request_type", ""),
        "requester": {"kind": values.get("requester_kind", ""),
                      "name": values.get("requester_name", ""),
                      "address": values.get("requester_address", ""),
                      "contact": values.get("requester_contact", ""),
                      "claim_number": values.get("claim_number", "")},
        "documents": {"complete_chart": typed.complete_chart, "types": types,
                      "from": values.get("from", ""), "to": values.get("to", ""),
                      "document_ids": ids},
        "assignee": values.get("assignee") or None,
    }
    try:
        parsed = NewRequest.model_validate(body)
    except ValidationError as err:
        raise FormProblems({**_explained(err), **problems}) from None
    if problems:
        raise FormProblems(problems)
    return parsed


def log_from(db, principal: Principal, clocks, body: NewRequest) -> ReleaseRequest:
    """Log the request the API's shape describes (release.requests.log_request checks the
    rest: the patient, the documents, the assignee and the dates)."""
    asked = body.documents
    return log_request(
        db, principal, clocks, mrns=[body.mrn, *body.mrns],
        requester=Requester(kind=body.requester.kind, name=body.requester.name,
                            address=body.requester.address, contact=body.requester.contact,
                            claim_number=body.requester.claim_number),
        legal_basis=body.legal_basis, received=_required_date(body.received, "received"),
        asked=Asked(complete_chart=True) if asked is None else Asked(
            complete_chart=asked.complete_chart, types=asked.types,
            date_from=parse_date(asked.from_, "documents.from"),
            date_to=parse_date(asked.to, "documents.to"), document_ids=asked.document_ids),
        request_type=body.request_type, purpose=body.purpose, assignee=body.assignee)


def _required_date(value: str, name: str) -> date:
    parsed = parse_date(value, name)
    if parsed is None:
        raise BadRequest(f"{name} is required: a date written YYYY-MM-DD.")
    return parsed


def _document_ids(text: str, problems: dict[str, str]) -> list[int]:
    words = [word for word in _SEPARATORS.split(text) if word]
    wrong = [word for word in words if not _NUMBER.match(word) or not 1 <= int(word) <= MAX_ID]
    if wrong:
        problems["document_ids"] = (
            f"{LABELS['document_ids']}: {wrong[0][:20]!r} is not a document number; give the "
            "numbers shown on the documents (#123), separated by commas.")
        return []
    return [int(word) for word in dict.fromkeys(words)]


def _explained(err: ValidationError) -> dict[str, str]:
    """Each problem pydantic found, by the form field it concerns, in the form's words."""
    problems: dict[str, str] = {}
    for problem in err.errors():
        loc = tuple(str(part) for part in problem["loc"])
        name = FIELD_OF.get(loc[:2], loc[0])
        if name in LABELS and name not in problems:
            problems[name] = f"{LABELS[name]}: {_in_words(name, problem)}."
    # Every part of the shape comes from a labelled field; should one not, still say what.
    return problems or {"": f"The form could not be read: {err.errors()[0]['msg']}."}


def _in_words(name: str, problem: dict) -> str:
    kind, ctx = problem["type"], problem.get("ctx", {})
    if kind in ("missing", "string_too_short") or (kind == "literal_error"
                                                   and not problem.get("input")):
        return "is required"
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters; shorten it"
    if kind == "too_long":
        return f"has more than {ctx.get('max_length')} entries; log several requests"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        return PATTERN_HINTS.get(name, "contains characters that are not allowed here "
                                       "(a tab or another control character)")
    return problem["msg"]
