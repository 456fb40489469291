"""What a cover or separator sheet's QR code carries, and how it is checked.

The payload is plain text, ``CVB1|<kind>|<mrn>|<type>|<encounter>|<check>``: kind ``P`` for a
patient cover sheet (MRN, document type, encounter number if known), ``S`` for the generic
"new document, same patient" separator (no fields). The check value is the CRC-32 of
everything before it: QR's own error correction already repairs smudges, so the check is
there for a payload that was hand-made or mistyped into another code generator, and for a
decoder that misread a damaged symbol without noticing. A payload that fails any check is
refused as a whole; nothing in it is used.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

PREFIX = "CVB1"
PATIENT = "P"
SEPARATOR = "S"
_MRN = re.compile(r"^[A-Za-z0-9-]{1,32}$")
_TYPE = re.compile(r"^[a-z0-9_]{2,64}$")
_ENCOUNTER = re.compile(r"^[A-Za-z0-9-]{0,40}$")


class BadCode(ValueError):
    """A sheet's code that is ours but cannot be trusted; the message says why."""


@dataclass(frozen=True)
class SheetCode:
    kind: str  # PATIENT or SEPARATOR
    mrn: str = ""
    doc_type: str = ""
    encounter: str = ""

    def payload(self) -> str:
        body = "|".join((PREFIX, self.kind, self.mrn, self.doc_type, self.encounter))
        return f"{body}|{check_value(body)}"


def check_value(body: str) -> str:
    return f"{zlib.crc32(body.encode('utf-8')):08X}"


def patient_code(mrn: str, doc_type: str, encounter: str = "") -> SheetCode:
    """The code of a patient cover sheet; refuses fields a reader could not take back."""
    if not _MRN.match(mrn):
        raise BadCode(f"The MRN {mrn!r} cannot be printed on a cover sheet.")
    if not _TYPE.match(doc_type):
        raise BadCode(
            f"The document type {doc_type!r} is not a type name (2-64 lowercase letters, "
            "digits or underscores, e.g. discharge_summary)."
        )
    if not _ENCOUNTER.match(encounter):
        raise BadCode("An encounter number is up to 40 letters, digits or hyphens.")
    return SheetCode(PATIENT, mrn, doc_type, encounter)


SEPARATOR_CODE = SheetCode(SEPARATOR)


def is_ours(text: str) -> bool:
    """Whether a decoded barcode is a ChartVault sheet at all (other barcodes on a page,
    a lab label or a wristband, are content)."""
    return text.startswith(PREFIX + "|")


def parse(text: str) -> SheetCode:
    """The sheet code in a decoded payload; BadCode when the check value or a field is wrong."""
    fields = text.split("|")
    if len(fields) != 6 or fields[0] != PREFIX:
        raise BadCode("The code is not a ChartVault cover sheet of this version.")
    body, check = "|".join(fields[:5]), fields[5]
    if check != check_value(body):
        raise BadCode("The cover sheet's check value does not match its contents.")
    kind, mrn, doc_type, encounter = fields[1:5]
    if kind == SEPARATOR and not (mrn or doc_type or encounter):
        return SEPARATOR_CODE
    if kind == PATIENT:
        return patient_code(mrn, doc_type, encounter)
    raise BadCode(f"The cover sheet names an unknown kind of sheet ({kind!r}).")
