"""Patient names read from a document's OCR text, normalised to "LAST, FIRST", and taken only
from a field labelled as the patient's name."""

from __future__ import annotations

import re

from ingest.text import OTHER_PERSON, previous_word, words

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
_NAME_QUALIFIERS = words(
    "the this a your our his her their my model device product drug brand generic medication "
    "company facility hospital insurance insurer plan pharmacy file user first last middle "
    "maiden family given doctor physician provider surgeon nurse attending referring "
    "practice clinic test study"
)
_NOT_THE_PATIENTS_NAME = _NAME_QUALIFIERS | OTHER_PERSON | {"'s"}
_NAME_TOKEN = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.-])*\Z")
_TITLES = words("mr mrs ms miss mx dr master")
_SUFFIXES = words("jr sr ii iii iv md do phd rn np pa esq")
_PARTICLES = words("de del della der den di da du la le van von st ter ten dos das")
_NOT_NAMES = words(
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


def find_names(text: str, low: str) -> list[str]:
    names = []
    for m in _NAME_FIELD.finditer(low):
        if m.group("weak"):
            word_before = previous_word(low, m.start())
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
