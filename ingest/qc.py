"""Quality-control rules: what a clerk must look at before a record counts as filed.

The rules are plain functions of what OCR produced, so the worker can compute them before
its final transaction and tests can exercise each one directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

LOW_CONFIDENCE = 60.0  # mean word confidence (0-100) below which a page needs a look
ICD10_FORMAT = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")

# Kinds raised by the OCR job; reviewing one keeps it from coming back on a re-run.
AUTO_KINDS = (
    "no_mrn",
    "mrn_mismatch",
    "blank_page",
    "low_confidence",
    "missing_date_of_service",
    "icd10_code",
)
OTHER_PATIENT = "filed_under_other_patient"

KIND_LABELS = {
    "no_mrn": "No MRN found on the pages",
    "mrn_mismatch": "MRN on the pages differs from the patient's",
    "blank_page": "Blank page",
    "low_confidence": "Page hard to read (low OCR confidence)",
    "missing_date_of_service": "Date of service missing",
    "icd10_code": "ICD-10 code malformed or unknown",
    OTHER_PATIENT: "Same file also filed under another patient",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    detail: str
    page_number: int | None = None


@dataclass(frozen=True)
class PageFacts:
    number: int
    blank: bool
    confidence: float | None


@dataclass(frozen=True)
class CodeFacts:
    code: str
    valid: bool


def review_document(
    *,
    patient_mrn: str,
    date_of_service: date | None,
    pages: Sequence[PageFacts],
    mrns_found: Sequence[str],
    dates_of_service_found: Sequence[date],
    codes: Iterable[CodeFacts],
) -> list[Finding]:
    findings = [*_mrn_findings(patient_mrn, mrns_found)]
    findings += _page_findings(pages)
    if date_of_service is None and not dates_of_service_found:
        findings.append(
            Finding(
                "missing_date_of_service",
                "No date of service was given at filing or found on the pages.",
            )
        )
    findings += _code_findings(codes)
    return findings


def _mrn_findings(patient_mrn: str, mrns_found: Sequence[str]) -> list[Finding]:
    if not mrns_found:
        return [
            Finding(
                "no_mrn",
                f"No MRN was found on the pages; check that this is {patient_mrn}'s document.",
            )
        ]
    others = [m for m in mrns_found if _normal(m) != _normal(patient_mrn)]
    if others:
        return [
            Finding(
                "mrn_mismatch",
                f"The pages show MRN {', '.join(others)}, but the "
                f"document is filed under {patient_mrn}.",
            )
        ]
    return []


def _normal(mrn: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", mrn).upper()


def _page_findings(pages: Sequence[PageFacts]) -> list[Finding]:
    findings = []
    for page in pages:
        if page.blank:
            findings.append(
                Finding(
                    "blank_page",
                    f"Page {page.number} is blank (kept in the "
                    "record). Check that no page was missed when scanning.",
                    page.number,
                )
            )
        elif page.confidence is not None and page.confidence < LOW_CONFIDENCE:
            findings.append(
                Finding(
                    "low_confidence",
                    f"Page {page.number} was hard to read "
                    f"(confidence {page.confidence:.0f}%). Consider a rescan.",
                    page.number,
                )
            )
    return findings


def _code_findings(codes: Iterable[CodeFacts]) -> list[Finding]:
    findings = []
    for code in codes:
        if not ICD10_FORMAT.match(code.code):
            findings.append(
                Finding("icd10_code", f"{code.code} is not a well-formed ICD-10-CM code.")
            )
        elif not code.valid:
            findings.append(Finding("icd10_code", f"{code.code} is not in the ICD-10-CM code set."))
    return findings
