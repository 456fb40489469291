"""Metadata read from a document's OCR text: MRNs, patient names, dates of birth and of
service, ICD-10-CM diagnosis codes, and a suggested document type.

Everything here is a pure function of the text; nothing touches the database. The rules lean
towards precision: a field is taken only from a labelled value ("MRN:", "DOB:", "Date of
Service:") and a diagnosis code only where the context says it is one, because a false MRN or
code raises a QC flag a clerk must clear, while a missed one is caught by the "not found" flag.

Patterns are compiled once at import. The ICD-10-CM code set takes seconds to load, so it is
loaded on the first candidate code only (call `check_icd10_code` once at worker start-up to pay
that cost early).
"""

from __future__ import annotations

import bisect
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from types import ModuleType
from typing import TypeVar

from ingest.doctypes import suggest_document_type
from ingest.text import lower_keeping_offsets, normalise_newlines

T = TypeVar("T")


@dataclass(frozen=True)
class IcdCode:
    code: str  # normalised: upper case, dot after the category ("J189" -> "J18.9")
    valid: bool  # present in the ICD-10-CM code set (simple_icd_10_cm.is_valid_item)
    description: str | None  # the code's title when valid


@dataclass(frozen=True)
class ExtractedMetadata:
    mrns: tuple[str, ...]  # as printed, in order of appearance, de-duplicated
    patient_names: tuple[str, ...]  # "LAST, FIRST", upper case
    dates_of_birth: tuple[date, ...]
    dates_of_service: tuple[date, ...]
    icd10_codes: tuple[IcdCode, ...]
    suggested_type: str | None


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


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


# --- Dates ---------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])"
)
_WEEKDAY = r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?[ \t]+)?"
_DATE_VALUE = (
    _WEEKDAY + r"(?:"
    r"(?P<iso_y>\d{4})[-/.](?P<iso_m>\d{1,2})[-/.](?P<iso_d>\d{1,2})(?!\d)"
    r"|(?P<us_m>\d{1,2})(?P<sep>[/.-])(?P<us_d>\d{1,2})(?P=sep)(?P<us_y>\d{4}|\d{2})(?!\d)"
    r"|(?P<md_m>" + _MONTH + r")\.?[ \t]+(?P<md_d>\d{1,2})(?:st|nd|rd|th)?,?[ \t]+"
    r"(?P<md_y>\d{4})(?!\d)"
    r"|(?P<dm_d>\d{1,2})(?:st|nd|rd|th)?[ \t-]+(?P<dm_m>" + _MONTH + r")\.?,?[ \t-]+"
    r"(?P<dm_y>\d{4}|\d{2})(?!\d)"
    r")"
)

# The hot patterns below are written in lower case and run on a lower-cased copy of the text
# (same offsets): several times faster than re.IGNORECASE on a megabyte of text.
_DOB_LABEL = r"d\.?[ \t]?o\.?[ \t]?b(?![a-z])\.?|date[ \t]+of[ \t]+birth|birth[ \t]*date"
_SERVICE_EVENTS = (
    r"service|admission|discharge|procedure|operation|surgery|visit|encounter"
    r"|exam(?:ination)?|study|consultation|consult|evaluation|collection"
)
_SERVICE_LABEL = (
    r"date[ \t]+of[ \t]+(?:" + _SERVICE_EVENTS + r")(?![a-z])"
    r"|(?:" + _SERVICE_EVENTS + r"|admit|surgical|clinic)[ \t]+date"
    r"|date[ \t]+(?:admitted|discharged|collected|seen)"
    r"|d\.?[ \t]?o\.?[ \t]?s(?![a-z])\.?"
    r"|(?:admitted|discharged)(?=[ \t]*:)"
    r"|(?P<bare>date(?:[ \t]*/[ \t]*time)?)(?=[ \t]*:)"
)
_DATE_FIELD = re.compile(
    r"(?<![a-z])(?:(?P<dob>" + _DOB_LABEL + r")|(?P<service>" + _SERVICE_LABEL + r"))"
    r"(?:[ \t]*/[ \t]*(?:age|sex|gender))?"
    r"[ \t]*[:;#=.\-]{0,2}[ \t]*(?:\n[ \t]*)?" + _DATE_VALUE
)
# "Dictated Date:", "Date:" after a report's signature block and the like are not the date
# the patient was seen; a bare "Date:" right after one of these words is skipped.
_NOT_SERVICE = _words(
    "dictated dictation transcribed transcription typed signed signature sign print printed "
    "report reported revised review reviewed due expiration expiry effective birth death "
    "injury onset accident lmp edd order ordered received resulted result verified referral "
    "appointment next return followup follow-up scan scanned fax faxed created filed "
    "request requested approved start stop end"
)
# Someone else's date of birth or name on the patient's chart (insurance, next of kin).
_OTHER_PERSON = _words(
    "mother father spouse guarantor subscriber insured parent guardian wife husband partner "
    "contact emergency responsible policyholder holder sponsor employer caregiver daughter son "
    "sibling brother sister relative kin"
)
_NOT_A_SERVICE_DATE = _NOT_SERVICE | _OTHER_PERSON | {"'s"}
_PREVIOUS_WORD = re.compile(r"([a-z][a-z'’-]*)[^a-z\n]*\Z")


def _previous_word(low: str, start: int) -> str:
    """The word before `start` on the same line of the lower-cased text ('' if none);
    possessives ("wife's") come back as "'s" so callers can treat all of them alike."""
    line_start = low.rfind("\n", max(0, start - 60), start) + 1
    m = _PREVIOUS_WORD.search(low, max(line_start, start - 60), start)
    if not m:
        return ""
    word = m.group(1)
    return "'s" if word.endswith(("'s", "’s")) else word


def _make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None  # Feb 30 and friends: dropped silently


def _resolve_year(
    year_text: str, month: int, day: int, *, latest: date, earliest_year: int
) -> date | None:
    if len(year_text) == 4:
        found = _make_date(int(year_text), month, day)
        if found is None or found > latest or found.year < earliest_year:
            return None
        return found
    # Two-digit year: the most recent century that does not put the date after `latest`.
    for century in (2000, 1900):
        found = _make_date(century + int(year_text), month, day)
        if found is not None and found <= latest:
            return found
    return None


def _parse_date(m: re.Match[str], *, latest: date, earliest_year: int) -> date | None:
    if m.group("iso_y"):
        year, month, day = m.group("iso_y"), int(m.group("iso_m")), int(m.group("iso_d"))
    elif m.group("us_y"):
        year, month, day = m.group("us_y"), int(m.group("us_m")), int(m.group("us_d"))
    elif m.group("md_y"):
        year, day = m.group("md_y"), int(m.group("md_d"))
        month = _MONTHS[m.group("md_m")[:3].lower()]
    else:
        year, day = m.group("dm_y"), int(m.group("dm_d"))
        month = _MONTHS[m.group("dm_m")[:3].lower()]
    return _resolve_year(year, month, day, latest=latest, earliest_year=earliest_year)


def _find_dates(low: str, today: date) -> tuple[list[date], list[date]]:
    # A birth date is never in the future; a service date may be booked into next year.
    latest_service = date(today.year + 1, 12, 31)
    births: list[date] = []
    services: list[date] = []
    for m in _DATE_FIELD.finditer(low):
        word_before = _previous_word(low, m.start())
        if m.group("dob"):
            if word_before == "'s" or word_before in _OTHER_PERSON:
                continue
            found = _parse_date(m, latest=today, earliest_year=1880)
            if found is not None:
                births.append(found)
        else:
            if m.group("bare") and word_before in _NOT_A_SERVICE_DATE:
                continue
            found = _parse_date(m, latest=latest_service, earliest_year=1900)
            if found is not None:
                services.append(found)
    return births, services


# --- Patient names -------------------------------------------------------------------------

_NAME_FIELD = re.compile(  # run on the lower-cased text; the value is read from the original
    r"(?<![a-z0-9])(?:"
    r"(?P<strong>patient(?:['’]s)?[ \t]+name|name[ \t]+of[ \t]+patient|pt\.?[ \t]+name)"
    r"[ \t]*[:;]?"
    r"|(?P<weak>patient|name)[ \t]*[:;])"
    r"[ \t]*(?P<value>[^\n]{0,120})"
)
# Where the name's value stops: a gap of columns, a separator, or the next field's label.
_NEXT_FIELD = re.compile(
    r"(?<!,)(?:\t|[ ]{3,})|[|;]"
    r"|[\s,]+(?:"
    r"M\.?R\.?N|MR\s*\#|Medical\s+Record|D\.?O\.?B|Date\s+of\s+\w+|Birth\s*Date|DOS"
    r"|Sex|Gender|Age|Acct|Account|Room|Rm|Bed|Unit|Location|Attending|Physician|Provider"
    r"|Surgeon|PCP|Admit\w*|Admission|Discharge|Visit|Encounter|FIN|CSN|SSN|Phone|Tel"
    r"|Address|Insurance|Dept|Department|Ward|Floor|Clinic|Referring|Dictated|Date|Time"
    r"|Page|Service|ID"
    r")(?=\s*[:#]|\s*\d)"
    r"|\s+[A-Za-z][\w./#-]*\s*:",
    re.IGNORECASE,
)
_NAME_QUALIFIERS = _words(
    "the this a your our his her their my model device product drug brand generic medication "
    "company facility hospital insurance insurer plan pharmacy file user first last middle "
    "maiden family given doctor physician provider surgeon nurse attending referring "
    "practice clinic test study"
)
_NOT_THE_PATIENTS_NAME = _NAME_QUALIFIERS | _OTHER_PERSON | {"'s"}
_NAME_TOKEN = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.-])*\Z")
_TITLES = _words("mr mrs ms miss mx dr master")
_SUFFIXES = _words("jr sr ii iii iv md do phd rn np pa esq")
_PARTICLES = _words("de del della der den di da du la le van von st ter ten dos das")
_NOT_NAMES = _words(
    "unknown none not available pending see above below same the a an patient name is was "
    "refused declined male female na n/a tbd test sample"
)


def _clean_token(token: str) -> str:
    return token.strip(".,").lower().replace("’", "'")


def _usable(tokens: list[str]) -> list[str]:
    """Drop titles, suffixes and initials; keep particles (they belong to the surname)."""
    kept = []
    for token in tokens:
        bare = _clean_token(token)
        if bare in _TITLES or bare in _SUFFIXES or len(bare) <= 1:
            continue
        kept.append(token.strip(".,"))
    return kept


def _looks_like_name(tokens: list[str]) -> bool:
    for token in tokens:
        if not _NAME_TOKEN.match(token) or _clean_token(token) in _NOT_NAMES:
            return False
        if not token[0].isupper() and _clean_token(token) not in _PARTICLES:
            return False
    return True


def _normalise_name(value: str) -> str | None:
    """'Doe, Jane A.' / 'JANE A DOE' / 'Mrs. Jane Doe' -> 'DOE, JANE'; None if not a name."""
    if "," in value:
        last_part, _, first_part = value.partition(",")
        last = _usable(last_part.split())
        first = _usable(first_part.replace(",", " ").split())
        if not (1 <= len(last) <= 3 and 1 <= len(first) <= 4):
            return None
        if not _looks_like_name(last + first):
            return None
        return f"{' '.join(last)}, {first[0]}".upper()
    tokens = _usable(value.split())
    if not 2 <= len(tokens) <= 5 or not _looks_like_name(tokens):
        return None
    surname_start = len(tokens) - 1
    while surname_start > 1 and _clean_token(tokens[surname_start - 1]) in _PARTICLES:
        surname_start -= 1
    return f"{' '.join(tokens[surname_start:])}, {tokens[0]}".upper()


def _find_names(text: str, low: str) -> list[str]:
    names = []
    for m in _NAME_FIELD.finditer(low):
        if m.group("weak"):
            word_before = _previous_word(low, m.start())
            # "Wife's name:", "Model Name:", "Emergency contact name:" are not the patient.
            if word_before in _NOT_THE_PATIENTS_NAME:
                continue
        value = text[m.start("value") : m.end("value")]
        stop = _NEXT_FIELD.search(value)
        if stop:
            value = value[: stop.start()]
        name = _normalise_name(value.strip(" \t.,:;-"))
        if name:
            names.append(name)
    return names


# --- ICD-10-CM codes -----------------------------------------------------------------------

# Letter, digit, digit or A/B (C4A, D3A, M1A, O9A, Z3A are real categories), then either a
# dot and what follows it or up to four more characters without the dot.
_CODE = r"[A-Za-z]\d[0-9ABab](?:\.[A-Za-z0-9]*|[A-Za-z0-9]{0,4})"
_CODE_CANDIDATE = re.compile(  # on lower-cased text
    r"(?<![a-z0-9.])[a-z]\d[0-9ab](?:\.[a-z0-9]*|[a-z0-9]{0,4})(?![a-z0-9])"
)
_CODE_SHAPE = re.compile(r"([A-Z]\d[0-9AB])(?:\.([A-Z0-9]{1,4})|([A-Z0-9]{0,4}))\Z")
_ICD_LABEL = re.compile(
    r"(?<![A-Za-z])(?:ICD[-\s]?(?:10)?(?:[-\s]?CM)?(?![-\s]?9)|(?:diagnosis|dx)\s+codes?)"
    r"(?![A-Za-z])",
    re.IGNORECASE,
)
_DIAGNOSIS_WORD = re.compile(
    r"(?<![A-Za-z])(?:diagnos[ie]s|dx|impressions?|assessment|problem\s+list|problems)"
    r"(?![A-Za-z])",
    re.IGNORECASE,
)
# Headings (a caps-only line, or a label ending in a colon at the start of a line) delimit
# sections; a diagnosis section runs from its heading to the next heading.
_HEADING = re.compile(
    r"^[ \t]*(?:[A-Z][A-Z0-9 /&()'’-]{2,60}?[ \t]*:?[ \t]*$"
    r"|[A-Za-z][A-Za-z0-9 /&()'’-]{1,50}?[ \t]*:)",
    re.MULTILINE,
)
_SECTION_REACH = 4000  # characters a diagnosis heading covers at most, for unstructured text
_CONTEXT_REACH = 200  # characters looked at either side of a candidate on its line
# A label earlier on the line stops applying at the end of a sentence ("... fracture.
# Room B12"); an ICD label also at the next numbered item ("ICD-10: J18.9  2. T11 ...").
_SENTENCE_END = re.compile(r".*[A-Za-z)\]][.!?]\s+", re.DOTALL)
_ITEM_START = re.compile(r".*(?:[.!?]\s+|(?<!\S)\d{1,2}[.)]\s+)", re.DOTALL)
_CODE_LIST_SEPARATOR = r"\s*(?:[,;/&+]|and|or)\s*"
_OPENS_CODE_GROUP = re.compile(
    r"[(\[]\s*(?:ICD[-\s]?(?:10)?(?:[-\s]?CM)?\s*(?:codes?)?\s*[:#-]?\s*)?"
    r"(?:" + _CODE + _CODE_LIST_SEPARATOR + r")*\Z",
    re.IGNORECASE,
)
_CLOSES_CODE_GROUP = re.compile(
    r"(?:" + _CODE_LIST_SEPARATOR + _CODE + r")*\s*[)\]]", re.IGNORECASE
)
_SEPARATED_AFTER = re.compile(r"[ \t]*(?::|=|[ \t][-–—](?=[ \t]))|[ \t]*\Z")
_LIST_MARKER = re.compile(r"[ \t]*(?:(?:\d{1,2}|[a-z])[.)]|[-•*])?[ \t]*\Z")


@lru_cache(maxsize=1)
def _code_set() -> ModuleType:
    # The package reads its data through importlib.resources.read_text, deprecated on
    # Python 3.11, and the test suite turns warnings into errors: silence the import only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import simple_icd_10_cm
    return simple_icd_10_cm


@lru_cache(maxsize=8192)
def check_icd10_code(raw: str) -> IcdCode:
    """Normalise one code ("j189" -> "J18.9") and look it up in the ICD-10-CM code set.
    A code of the wrong shape ("J18.", "J18.99999") comes back as printed (upper case) with
    valid=False and is never looked up."""
    printed = raw.strip().upper()
    m = _CODE_SHAPE.match(printed)
    if not m:
        return IcdCode(printed, False, None)
    category, after_dot, undotted = m.groups()
    tail = after_dot or undotted
    code = f"{category}.{tail}" if tail else category
    codes = _code_set()
    if not codes.is_valid_item(code):
        return IcdCode(code, False, None)
    return IcdCode(code, True, codes.get_description(code))


@dataclass(frozen=True)
class _Sections:
    """Where each heading starts and whether it opens a diagnosis or a code-list section."""

    starts: list[int]
    kinds: list[str]  # "codes", "diagnosis" or "other"

    def kind_at(self, line_start: int, position: int) -> str:
        i = bisect.bisect_left(self.starts, line_start) - 1  # headings on earlier lines only
        if i < 0 or position - self.starts[i] > _SECTION_REACH:
            return "other"
        return self.kinds[i]


def _sections(text: str, lines_with_codes: set[int]) -> _Sections:
    starts, kinds = [], []
    for m in _HEADING.finditer(text):
        heading = m.group(0)
        if _ICD_LABEL.search(heading):
            kind = "codes"
        elif _DIAGNOSIS_WORD.search(heading):
            kind = "diagnosis"
        elif m.start() in lines_with_codes:
            continue  # "Pneumonia: J18.9" is an entry of a list, not a new heading
        else:
            kind = "other"
        starts.append(m.start())
        kinds.append(kind)
    return _Sections(starts, kinds)


def _line_start(text: str, position: int) -> int:
    # Bounded, so a text without newlines (a PDF text layer can be one long line) stays linear.
    lowest = max(0, position - _SECTION_REACH)
    newline = text.rfind("\n", lowest, position)
    return newline + 1 if newline >= 0 else lowest


def _find_codes(text: str, low: str) -> list[IcdCode]:
    candidates = list(_CODE_CANDIDATE.finditer(low))
    if not candidates:
        return []
    line_starts = [_line_start(text, m.start()) for m in candidates]
    sections = _sections(text, set(line_starts))
    codes = []
    for m, line_start in zip(candidates, line_starts, strict=True):
        raw = text[m.start() : m.end()]
        end = m.end()
        if raw.endswith(".") and (end == len(text) or text[end].isspace()):
            raw, end = raw[:-1], end - 1  # "... was I10." ends a sentence, not the code
        before = text[max(line_start, m.start() - _CONTEXT_REACH) : m.start()]
        line_end = text.find("\n", end, end + _CONTEXT_REACH)
        after = text[end : end + _CONTEXT_REACH if line_end < 0 else line_end]
        section = sections.kind_at(line_start, m.start())
        if _accept_code(raw, before, after, section):
            codes.append(check_icd10_code(raw))
    return codes


def _after_last(boundary: re.Pattern[str], before: str) -> str:
    m = boundary.match(before)
    return before[m.end() :] if m else before


def _accept_code(raw: str, before: str, after: str, section: str) -> bool:
    if section == "codes" or _ICD_LABEL.search(_after_last(_ITEM_START, before)):
        return True  # explicitly a code: anything code-shaped counts, malformed included
    if section != "diagnosis" and not _DIAGNOSIS_WORD.search(_after_last(_SENTENCE_END, before)):
        return False
    # Diagnosis text also names vertebrae (T11), vitamins (B12), rooms and dosing times
    # (q12h): here a code must be in capitals, and a bare three-character one or one with a
    # letter after the category ("Q12H") counts only when set apart like a code.
    if not raw.isupper():
        return False
    if "." in raw or (len(raw) >= 4 and raw[3].isdigit()):
        return True
    if _OPENS_CODE_GROUP.search(before) and _CLOSES_CODE_GROUP.match(after):
        return True  # "Hypertension (I10)"
    # "2. I10 - Essential hypertension", "Hypertension: I10"
    starts_item = _LIST_MARKER.match(before) or before.rstrip(" \t").endswith(":")
    return bool(starts_item and _SEPARATED_AFTER.match(after))


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
    births, services = _find_dates(low, today or date.today())
    return ExtractedMetadata(
        mrns=_unique(_find_mrns(text, mrn_pattern)),
        patient_names=_unique(_find_names(text, low)),
        dates_of_birth=_unique(births),
        dates_of_service=_unique(services),
        icd10_codes=_unique(_find_codes(text, low)),
        suggested_type=suggest_document_type(text),
    )
