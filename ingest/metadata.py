"""Metadata read from a document's OCR text: MRNs, patient names, dates of birth and of
service, ICD-10-CM diagnosis codes, and a suggested document type.

Everything here is a pure function of the text; nothing touches the database. The rules lean
towards precision: a field is taken only from a labelled value ("MRN:", "DOB:", "Date of
Service:") and a diagnosis code only where the context says it is one, because a false MRN or
code raises a QC flag a clerk must clear, while a missed one is caught by the "not found" flag.

Patterns are compiled once at import. Each field has its reader: dates in
ingest.metadata_dates, names in ingest.metadata_names, diagnosis codes in ingest.icd10 (whose
code set loads on the first candidate code).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TypeVar

from ingest.doctypes import suggest_document_type
from ingest.icd10 import IcdCode, find_codes
from ingest.metadata_dates import find_dates
from ingest.metadata_names import find_names
from ingest.text import lower_keeping_offsets, normalise_newlines

T = TypeVar("T")


@dataclass(frozen=True)
class ExtractedMetadata:
    mrns: tuple[str, ...]  # as printed, in order of appearance, de-duplicated
    patient_names: tuple[str, ...]  # "LAST, FIRST", upper case
    dates_of_birth: tuple[date, ...]
    dates_of_service: tuple[date, ...]
    icd10_codes: tuple[IcdCode, ...]
    suggested_type: str | None


# --- MRN -----------------------------------------------------------------------------------

# A labelled MRN ("MRN: 123456", "MR#: 1234567", "Medical Record Number: A1234567"), or the
# archive's own "MRN-1001" form, reported whole. The value must hold a digit and is taken
# exactly as printed: an OCR'd "12O4567" is reported as such, for a person to judge.
DEFAULT_MRN_PATTERN = (
    # The label: MRN, M.R.N., MR#, MR No., Medical Record (Number|No.|#), Med. Rec. #.
    # It opens with a plain [Mm] rather than (?i) so the regex engine can skip ahead quickly.
    r"(?:[Mm](?<![A-Za-z0-9][Mm])(?i:(?:\.?[ \t]?R\.?[ \t]?N\.?"
    r"|\.?[ \t]?R\.?(?=[ \t]*(?:\#|No\b|Num))|edical[ \t]+Record|ed\.?[ \t]+Rec\.?)(?![a-z])"
    r"(?:[ \t]*(?:\#|No\b\.?|Number|Num\b\.?))?[ \t]*[:#=.]?[ \t]*(?:\n[ \t]*)?)"
    r"|(?=MRN-[A-Za-z0-9]*\d)(?<![A-Za-z0-9]))"
    # The value: 4 to 20 letters, digits and inner hyphens, at least one a digit.
    r"(?P<mrn>(?:MRN-)?(?=[A-Za-z0-9-]*\d)[A-Za-z0-9](?:[A-Za-z0-9-]{2,18}[A-Za-z0-9]))"
    r"(?![A-Za-z0-9-])"
)


@lru_cache(maxsize=32)
def _compile_mrn_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise ValueError(
            f"The MRN pattern {pattern!r} is not a valid regular expression: {err}"
        ) from err


def _find_mrns(text: str, pattern: str) -> list[str]:
    """The value is the group named "mrn", else the first group, else the whole match."""
    regex = _compile_mrn_pattern(pattern)
    if "mrn" in regex.groupindex:
        group: int | str = "mrn"
    else:
        group = 1 if regex.groups else 0
    return [m.group(group).strip() for m in regex.finditer(text) if m.group(group)]


# --- Putting it together -------------------------------------------------------------------


def _unique(items: Iterable[T]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))


def extract_metadata(
    text: str, *, mrn_pattern: str = DEFAULT_MRN_PATTERN, today: date | None = None
) -> ExtractedMetadata:
    """Read what a records clerk would look for on the pages. `mrn_pattern` is a regular
    expression whose group "mrn" (else its first group, else the whole match) is the MRN;
    `today` bounds dates of birth and decides two-digit years (default: today)."""
    text = normalise_newlines(text)
    low = lower_keeping_offsets(text)
    births, services = find_dates(low, today or date.today())
    return ExtractedMetadata(
        mrns=_unique(_find_mrns(text, mrn_pattern)),
        patient_names=_unique(find_names(text, low)),
        dates_of_birth=_unique(births),
        dates_of_service=_unique(services),
        icd10_codes=_unique(find_codes(text, low)),
        suggested_type=suggest_document_type(text),
    )
