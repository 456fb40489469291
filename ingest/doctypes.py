"""Suggesting a document type from OCR text: keyword rules kept as data, weighted so that a
title near the top ("DISCHARGE SUMMARY") beats a passing mention further down."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.text import lower_keeping_offsets, normalise_newlines

# --- Document type -------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentTypeRule:
    """Evidence for one document type, as lower-case regular expressions (they are matched
    against a lower-cased copy of the text).

    titles:   the document's title; worth most near the top of the text (TITLE_AT_TOP)
    key:      section headings only this type has ("HOSPITAL COURSE", "ESTIMATED BLOOD LOSS")
    common:   section headings this type shares with others ("ALLERGIES"); capped
    phrases:  wording found anywhere in the body ("prepped and draped"); capped
    """

    name: str
    titles: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    common: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()


# A title at the top outweighs any amount of body evidence: a chart often bundles several
# documents, and the first one's title names what was filed.
TITLE_AT_TOP = 50  # a title within the first HEAD_LINES non-empty lines
TITLE_ELSEWHERE = 4  # a title line further down
KEY_HEADING, KEY_CAP = 5, 4
COMMON_HEADING, COMMON_CAP = 1, 4
PHRASE, PHRASE_CAP = 2, 3
MINIMUM_SCORE = 4  # below this no type is suggested
HEAD_LINES = 12
TYPE_WINDOW = 30_000  # characters read for the type: about the first eight pages

_DX = r"diagnos[ie]s(?:\s*\(es\))?"

# Order matters on a tie: the more specific types come first.
DOCUMENT_TYPE_RULES: tuple[DocumentTypeRule, ...] = (
    DocumentTypeRule(
        "discharge_summary",
        titles=(
            r"(?:hospital\s+)?discharge\s+summary",
            r"death\s+summary",
            r"discharge\s+(?:report|note)",
        ),
        key=(
            r"(?:final\s+)?discharge\s+" + _DX,
            r"(?:brief\s+)?hospital\s+course(?:\s+summary)?",
            r"course\s+in\s+(?:the\s+)?hospital",
            r"discharge\s+(?:medications|instructions)",
            r"condition\s+(?:on|at|upon)\s+discharge",
            r"discharge\s+(?:condition|disposition)",
        ),
        common=(
            r"admi(?:tting|ssion)\s+" + _DX,
            r"procedures?",
            r"consultations?",
            r"disposition",
            r"follow[- ]?up",
            r"pertinent\s+laborator(?:y|ies)",
        ),
        phrases=(
            r"discharged\s+(?:home|to)",
            r"was\s+discharged",
            r"length\s+of\s+stay",
            r"hospital\s+stay",
        ),
    ),
    DocumentTypeRule(
        "operative_report",
        titles=(
            r"operative\s+(?:report|note)",
            r"operation\s+(?:report|note)",
            r"(?:brief\s+)?op\s+note",
            r"procedure\s+(?:note|report)",
        ),
        key=(
            r"pre-?\s?operative\s+" + _DX,
            r"post-?\s?operative\s+" + _DX,
            r"estimated\s+blood\s+loss",
            r"(?:operative|surgical)\s+(?:procedure|findings|technique|note)",
            r"(?:name|title)\s+of\s+(?:the\s+)?(?:operation|procedure)",
            r"(?:operations?|procedures?)(?:\s+performed)",
            r"procedures?\s+(?:in\s+)?details?",
            r"description\s+of\s+(?:the\s+)?(?:procedure|operation)(?:\s*#\s*\d)?",
            r"details\s+of\s+(?:the\s+)?(?:procedure|operation)",
            r"indications?\s+for\s+(?:the\s+)?(?:procedure|operation|surgery)",
        ),
        common=(
            r"anesthesia",
            r"complications",
            r"specimens?(?:\s+removed)?",
            r"drains?",
            r"surgeons?",
            r"assistants?",
            r"fluids",
            r"implants?",
            r"operations?",
            r"procedures?",
            r"findings",
            r"indications?",
            r"ebl",
            r"operative\s+note",
        ),
        phrases=(
            r"prepped\s+and\s+draped",
            r"(?:taken|brought)\s+(?:back\s+)?to\s+the\s+"
            r"operating\s+room",
            r"tolerated\s+the\s+procedure",
            r"general\s+"
            r"(?:endotracheal\s+)?anesthesia",
            r"(?:sponge|needle|instrument)\s+counts?",
            r"in\s+the\s+(?:supine|prone|lithotomy)\s+position",
            r"incision\s+was\s+made",
            r"time-?\s?out",
        ),
    ),
    DocumentTypeRule(
        "pathology_report",
        titles=(
            r"(?:surgical\s+)?pathology\s+report",
            r"surgical\s+pathology",
            r"cytology\s+report",
            r"autopsy\s+report",
        ),
        key=(
            r"gross\s+description",
            r"microscopic\s+description",
            r"(?:final\s+)?patholog(?:ic|ical)?\s+" + _DX,
            r"diagnostic\s+opinion",
            r"specimens?\s+(?:submitted|received)",
            r"frozen\s+section",
            r"gross",
            r"microscopic",
        ),
        common=(r"specimens?", r"clinical\s+(?:history|information)", r"final\s+" + _DX),
        phrases=(
            r"sections?\s+(?:are|were)\s+submitted",
            r"cassettes?",
            r"formalin",
            r"immunohistochemi",
            r"h\s*&\s*e\b",
        ),
    ),
    DocumentTypeRule(
        "radiology_report",
        titles=(
            r"radiology\s+report",
            r"(?:ct|mri|x-?ray|ultrasound|sonogram|mammogram)"
            r"\b(?!\s*:)",
            r"[a-z0-9 -]{0,30}(?:ultrasound|radiograph|tomography|urogram|"
            r"scan|angiogram|fluoroscopy|echocardiogram)\b",
        ),
        key=(
            r"technique",
            r"comparison",
            r"(?:reason\s+for|type\s+of)\s+(?:exam|study)",
            r"exam(?:ination)?",
            r"clinical\s+(?:history|indication)",
            r"views",
        ),
        common=(
            r"findings",
            r"impression",
            r"conclusion",
            r"indications?",
            r"history",
            r"doppler",
            r"m-mode",
        ),
        phrases=(
            r"\b(?:ct|mri)\b",
            r"ultrasound",
            r"x-?ray",
            r"radiograph",
            r"contrast",
            r"sonograph",
            r"echogenic",
            r"doppler",
            r"tracer",
            r"images?\s+(?:were|was)"
            r"\s+obtained",
            r"views?\s+(?:of|were)",
            r"hypoechoic|hyperechoic",
            r"(?:uro|pyelo|angio|mammo|tomo)gra(?:m|phy)",
            r"fluorosco",
        ),
    ),
    DocumentTypeRule(
        "lab_report",
        titles=(
            r"(?:clinical\s+)?lab(?:oratory)?\s+(?:report|results?)",
            r"cumulative\s+(?:lab\s+)?report",
            r"urinalysis",
            r"complete\s+blood\s+count",
        ),
        key=(
            r"reference\s+(?:range|interval)",
            r"ref\.?\s+range",
            r"test\s+name",
            r"collect(?:ed|ion)(?:\s+(?:date|time))?",
            r"specimen\s+(?:type|source)",
            r"results?\s+(?:status|date)",
        ),
        common=(r"results?", r"units?", r"flags?", r"specimens?", r"received", r"reported"),
        phrases=(
            r"mg/dl",
            r"mmol/l",
            r"g/dl",
            r"\bu/l\b",
            r"(?:10\*3|k)/u?l",
            r"reference\s+range",
        ),
    ),
    DocumentTypeRule(
        "emergency_department_note",
        titles=(
            r"emergency\s+(?:department|room)\s+(?:report|note|record|visit|physician)",
            r"(?:ed|er)\s+(?:report|note|visit|record)",
            r"emergency\s+(?:department|room)",
        ),
        key=(
            r"(?:ed|er|emergency\s+(?:department|room))\s+course",
            r"medical\s+decision\s+"
            r"making",
            r"triage(?:\s+(?:note|vitals))?",
            r"mode\s+of\s+arrival",
            r"time\s+seen",
        ),
        common=(r"disposition", r"chief\s+complaint", r"history\s+of\s+present\s+illness"),
        phrases=(
            r"(?:present(?:s|ed)|came|brought|arrived)\s+(?:in\s+)?to\s+the\s+(?:emergency"
            r"\s+(?:room|department)|er|ed)\b",
            r"in\s+the\s+(?:er|ed|emergency\s+"
            r"(?:room|department))\b",
            r"(?:by|via)\s+(?:ems|ambulance)",
            r"ed\s+physician",
        ),
    ),
    DocumentTypeRule(
        "consultation",
        titles=(
            r"consult(?:ation)?(?!s)(?:\s+(?:note|report|request))?",
            r"(?:[a-z]+\s+){0,2}consult(?:ation)?\s+(?:note|report)",
        ),
        key=(
            r"reason\s+for\s+(?:the\s+)?(?:consultation|consult|referral)",
            r"consult(?:ation)?\s+(?:requested|request)(?:\s+by)?",
            r"referring\s+physician",
            r"requesting\s+physician",
        ),
        common=(r"recommendations?",),
        phrases=(
            r"thank\s+you\s+for\s+(?:\w+\s+){0,6}(?:consult|consultation|referral|"
            r"referring)",
            r"(?:seen|see\s+(?:him|her|the\s+patient))\s+in\s+consultation",
            r"(?:as\s+a\s+)?consultation\s+(?:from|for|at\s+the\s+request)",
            r"(?:was|were)\s+(?:asked|consulted)",
            r"referred\s+(?:to\s+us\s+)?(?:by|from)",
            r"consulted\s+by",
        ),
    ),
    DocumentTypeRule(
        "correspondence",
        titles=(r"letter", r"to\s+whom\s+it\s+may\s+concern", r"referral\s+letter"),
        key=(
            r"dear\s+(?:dr\.?|mr\.?|mrs\.?|ms\.?|sir|madam|colleague|[a-z]+)(?:[^\n]{0,40})",
            r"(?:yours\s+)?(?:sincerely|truly)(?:\s+yours)?,?",
            r"(?:best|kind|warm)\s+regards,?",
            r"re",
        ),
        common=(r"cc", r"enclosures?"),
        phrases=(
            r"please\s+(?:do\s+not\s+hesitate|feel\s+free)\s+to\s+(?:call|contact)",
            r"thank\s+you\s+for\s+(?:allowing|the\s+opportunity|your\s+referral)",
        ),
    ),
    DocumentTypeRule(
        "progress_note",
        titles=(
            r"(?:daily\s+)?progress\s+note",
            r"soap\s+note",
            r"follow[- ]?up\s+(?:note|visit)",
            r"(?:clinic|office)\s+(?:note|visit)",
            r"chart\s+note",
            r"interval\s+note",
        ),
        key=(
            r"subjective",
            r"objective",
            r"interval\s+history",
            r"reason\s+for\s+visit",
            r"s",
            r"o",
        ),
        common=(
            r"assessment(?:\s+(?:and|&)\s+plan)?",
            r"plan",
            r"impression",
            r"vital\s+signs",
            r"a/p",
        ),
        phrases=(
            r"(?:presents?|returns?|comes?\s+in|here|seen)\s+(?:today\s+)?(?:back\s+)?"
            r"for\s+(?:a\s+|his\s+|her\s+)?(?:routine\s+)?(?:follow[- ]?up|recheck)",
            r"follow[- ]?up\s+visit",
            r"since\s+(?:the|his|her)\s+last\s+visit",
            r"(?:hospital|post-?op(?:erative)?)\s+day\s+(?:#\s*)?\d",
            r"returns?\s+(?:today\s+)?for",
        ),
    ),
    DocumentTypeRule(
        "history_and_physical",
        titles=(
            r"history\s+(?:and|&)\s+physical(?:\s+exam(?:ination)?)?",
            r"h\s*&\s*p",
            r"admission\s+(?:history|note|h\s*&\s*p)",
        ),
        key=(r"reason\s+for\s+admission",),
        common=(
            r"chief\s+complaint|cc",
            r"history\s+of\s+present(?:ing)?\s+illness|hpi",
            r"past\s+medical\s+history|pmh",
            r"past\s+surgical\s+history",
            r"family\s+history",
            r"social\s+history",
            r"review\s+of\s+systems|ros",
            r"physical\s+exam(?:ination)?",
            r"allergies",
            r"(?:current\s+)?medications",
        ),
        phrases=(
            r"(?:will\s+be|being|to\s+be)\s+admitted",
            r"admit\s+to\s+(?:the\s+)?\w+",
            r"(?:history\s+and\s+physical|h\s*&\s*p)",
        ),
    ),
)

DOCUMENT_TYPES: tuple[str, ...] = tuple(rule.name for rule in DOCUMENT_TYPE_RULES)

# A heading: text at the start of a line ending in a colon, or a whole line with no
# sentence punctuation (caps-only headings without a colon are common in transcription).
_LINE_HEADING = re.compile(  # on lower-cased text
    r"^[ \t]*(?:\d+[.)][ \t]*)?(?P<text>[a-z][a-z0-9 &/()#'’,.-]{0,60}?)[ \t]*"
    r"(?::|$)",
    re.MULTILINE,
)
_TITLE_PREFIX = r"^\W*(?:(?:document|report|note|visit)\s+type\s*:\s*)?"


@dataclass(frozen=True)
class _CompiledRule:
    name: str
    titles: tuple[re.Pattern[str], ...]
    key: re.Pattern[str] | None  # one alternation, a named group per heading pattern
    common: re.Pattern[str] | None
    phrases: tuple[re.Pattern[str], ...]


def _headings_alternation(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?P<h{i}>(?:{p})\\Z)" for i, p in enumerate(patterns)))


def _compile_rule(rule: DocumentTypeRule) -> _CompiledRule:
    # Everything is matched against lower-cased text, so the patterns run case-sensitively.
    return _CompiledRule(
        rule.name,
        tuple(re.compile(_TITLE_PREFIX + f"(?:{p})(?![a-z])(?!s?\\s*:)") for p in rule.titles),
        _headings_alternation(rule.key),
        _headings_alternation(rule.common),
        tuple(re.compile(p) for p in rule.phrases),
    )


_COMPILED_RULES = tuple(_compile_rule(rule) for rule in DOCUMENT_TYPE_RULES)


def _headings(window: str) -> set[str]:
    found = set()
    for m in _LINE_HEADING.finditer(window):
        text = " ".join(m.group("text").split()).strip(" .,-")
        if text:
            found.add(text)
    return found


def _title_lines(lines: list[str]) -> list[str]:
    # A title stands more or less alone on its line ("DISCHARGE SUMMARY"); a sentence that
    # mentions one ("Normal coronary angiogram.") is not a title.
    return [line for line in lines if len(line) <= 80 and not line.rstrip(" ,;").endswith(".")]


def _has_title(lines: list[str], title: re.Pattern[str]) -> bool:
    for line in lines:
        m = title.search(line)
        if m and len(line[m.end() :].split()) <= 6:
            return True
    return False


def _distinct_headings(alternation: re.Pattern[str] | None, headings: set[str]) -> int:
    if alternation is None:
        return 0
    return len({m.lastgroup for h in headings if (m := alternation.match(h))})


def _has_phrase(phrase: re.Pattern[str], window: str) -> bool:
    # The word-start check is done here rather than with a look-behind in the pattern, which
    # would stop the regex engine from skipping ahead to the phrase's first letters.
    m = phrase.search(window)
    while m and m.start() > 0 and window[m.start() - 1].isalpha():  # "review of" is no "view of"
        m = phrase.search(window, m.start() + 1)
    return m is not None


def score_document_types(text: str) -> dict[str, int]:
    """Each type's score under DOCUMENT_TYPE_RULES (for explaining a suggestion)."""
    window = lower_keeping_offsets(normalise_newlines(text[:TYPE_WINDOW]))
    lines = [line.strip() for line in window.split("\n") if line.strip()]
    head, rest = _title_lines(lines[:HEAD_LINES]), _title_lines(lines[HEAD_LINES:])
    headings = _headings(window)
    scores = {}
    for rule in _COMPILED_RULES:
        score = 0
        for title in rule.titles:
            if _has_title(head, title):
                score += TITLE_AT_TOP
            elif _has_title(rest, title):
                score += TITLE_ELSEWHERE
        score += KEY_HEADING * min(_distinct_headings(rule.key, headings), KEY_CAP)
        score += COMMON_HEADING * min(_distinct_headings(rule.common, headings), COMMON_CAP)
        phrases = sum(_has_phrase(p, window) for p in rule.phrases)
        score += PHRASE * min(phrases, PHRASE_CAP)
        scores[rule.name] = score
    return scores


def suggest_document_type(text: str) -> str | None:
    """The best-scoring type under DOCUMENT_TYPE_RULES, or None when the evidence is thin.
    Ties go to the rule listed first."""
    scores = score_document_types(text)
    best = max(DOCUMENT_TYPES, key=lambda name: scores[name])  # max keeps the first on a tie
    return best if scores[best] >= MINIMUM_SCORE else None
