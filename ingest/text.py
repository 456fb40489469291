"""Small text helpers, and words, shared by the metadata readers."""

from __future__ import annotations

import re


def normalise_newlines(text: str) -> str:
    # Page breaks (form feeds) and Windows line ends become plain newlines; no-break spaces
    # (common in PDF text layers) become spaces so [ \t] in the patterns sees them.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").replace("\xa0", " ")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def lower_keeping_offsets(text: str) -> str:
    """A lower-cased copy whose offsets match the original."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return text.translate(_ASCII_LOWER)  # a few characters grow when lowered ("İ")


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Someone else's date of birth or name on the patient's chart (insurance, next of kin).
OTHER_PERSON = words(
    "mother father spouse guarantor subscriber insured parent guardian wife husband partner "
    "contact emergency responsible policyholder holder sponsor employer caregiver daughter son "
    "sibling brother sister relative kin"
)
_PREVIOUS_WORD = re.compile(r"([a-z][a-z'’-]*)[^a-z\n]*\Z")


def previous_word(low: str, start: int) -> str:
    """The word before `start` on the same line of the lower-cased text ('' if none);
    possessives ("wife's") come back as "'s" so callers can treat all of them alike."""
    line_start = low.rfind("\n", max(0, start - 60), start) + 1
    m = _PREVIOUS_WORD.search(low, max(line_start, start - 60), start)
    if not m:
        return ""
    word = m.group(1)
    return "'s" if word.endswith(("'s", "’s")) else word
