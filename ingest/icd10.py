"""ICD-10-CM diagnosis codes read from a document's OCR text, and looked up in the code set.

A code is taken only where the context says it is one (an ICD label, a diagnosis heading or
sentence), because diagnosis text also names vertebrae, vitamins and rooms that look like
codes. The code set takes seconds to load, so it is loaded on the first candidate code only
(call `check_icd10_code` once at worker start-up to pay that cost early).
"""

from __future__ import annotations

import bisect
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType


@dataclass(frozen=True)
class IcdCode:
    code: str  # normalised: upper case, dot after the category ("J189" -> "J18.9")
    valid: bool  # present in the ICD-10-CM code set (simple_icd_10_cm.is_valid_item)
    description: str | None  # the code's title when valid


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


def find_codes(text: str, low: str) -> list[IcdCode]:
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
