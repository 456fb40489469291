"""Small text helpers shared by the metadata readers."""

from __future__ import annotations


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
