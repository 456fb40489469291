"""Text for PDFs drawn with fpdf2: which Unicode TrueType font to use, and how to make any
text drawable without one. Shared by every package that renders a PDF (the certificate of
destruction, the accounting of disclosures).

Patient names come from everywhere ("Łukasz", "O'Brien — Jr."), and the PDF core fonts know
only Latin-1, so a Unicode TrueType font is used when one is installed (DejaVu Sans, from
Debian's fonts-dejavu-core); without one the text is transliterated to Latin-1 rather than
refused: a document must never fail to render because of a name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

# (regular, bold) TrueType files, first found wins. DejaVu covers Latin Extended, Greek and
# Cyrillic; Liberation is the second choice because Debian machines often have one of the two.
FONT_CANDIDATES: tuple[tuple[str, str], ...] = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ),
)
CORE_FAMILY = "helvetica"

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Characters outside Latin-1 that NFKD cannot take apart into a Latin-1 letter and marks.
TRANSLITERATIONS = {
    "—": "-",
    "–": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "‘": "'",
    "’": "'",
    "‚": ",",
    "“": '"',
    "”": '"',
    "„": '"',
    "…": "...",
    "•": "*",
    "€": "EUR",
    "™": "TM",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "ı": "i",
    "Œ": "OE",
    "œ": "oe",
    "ŉ": "'n",
    "Ŋ": "N",
    "ŋ": "n",
    "ſ": "s",
    "ŧ": "t",
    "Ŧ": "T",
}


def find_unicode_font(
    candidates: Sequence[tuple[str, str]] = FONT_CANDIDATES,
) -> tuple[str, str] | None:
    """(regular, bold) paths of the first installed candidate font; the regular face stands
    in for a missing bold one. None when there is none."""
    for regular, bold in candidates:
        if Path(regular).is_file():
            return regular, bold if Path(bold).is_file() else regular
    return None


def to_latin1(text: str) -> str:
    """Text the core fonts can draw: Latin-1 kept, other letters without their accents
    ("Ș" → "S"), known symbols spelled out ("—" → "-"), anything else "?"."""
    return "".join(latin1_char(char) for char in text)


def latin1_char(char: str) -> str:
    if ord(char) < 256:
        return char
    if char in TRANSLITERATIONS:
        return TRANSLITERATIONS[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and all(ord(c) < 256 for c in base):
        return base
    return "?"


def add_unicode_font(pdf, family: str) -> tuple[str, frozenset[int] | None]:
    """Load the installed Unicode font into an fpdf2 document as ``family`` (regular and
    bold): the family to draw with, and the code points it covers (None: unknown, assume
    all). Without a usable font, the core family and Latin-1."""
    found = find_unicode_font()
    if found is None:
        return CORE_FAMILY, frozenset(range(256))
    try:
        pdf.add_font(family, "", found[0])
        pdf.add_font(family, "B", found[1])
    except Exception:  # noqa: BLE001 - an unreadable font file must not cost the document
        return CORE_FAMILY, frozenset(range(256))
    coverage = getattr(pdf.fonts.get(family), "cmap", None)
    return family, frozenset(coverage) if coverage is not None else None


def drawable(text: str, coverage: frozenset[int] | None) -> str:
    """One line of text the font can draw: controls as spaces, characters outside its
    ``coverage`` transliterated."""
    text = CONTROL_CHARACTERS.sub(" ", text)
    if coverage is None:
        return text
    return "".join(c if ord(c) in coverage else latin1_char(c) for c in text)
