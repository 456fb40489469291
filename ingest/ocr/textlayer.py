"""tesseract's text layer, made fit to lay over a scanned page: each line set level.

tesseract writes each line along the line's measured slope. On a page scanned 1 degree
askew, pdftotext cuts such a slope into pieces at fixed heights, splitting words
("ceftria" + "xone"): 3-4 % of the words were lost that way on test scans. Set level,
word by word at the x where each word starts, every word stays whole and every line stays
one line; the invisible text is then at most half the line's rise above or below the ink
(3 pt at the ends of a full-width line skewed 0.8 degrees).

The content stream is read and written by pikepdf (qpdf's tokenizer: under 1 ms for a
dense page); only the text positioning operators change, everything else is kept."""

from __future__ import annotations

from decimal import Decimal

import pikepdf
from pikepdf import ContentStreamInstruction, Operator

# Lines sloping by less than this (sin of about 6 degrees) are scan skew, not vertical text.
_MAX_SKEW = 0.1

_END_OF_TEXT = Operator("ET")
_SET_MATRIX = Operator("Tm")
_MOVE_TO_NEXT = Operator("Td")


def levelled_text_layer(layer: pikepdf.Page) -> bytes:
    """The content of tesseract's text-only page with every line of text set level."""
    levelled: list = []
    text_object: list = []
    for instruction in pikepdf.parse_content_stream(layer):
        text_object.append(instruction)
        if instruction.operator == _END_OF_TEXT:
            levelled += _level_text_object(text_object)
            text_object = []
    return pikepdf.unparse_content_stream(levelled + text_object)


def _level_text_object(text_object: list) -> list:
    """One BT ... ET of tesseract's: a Tm setting the slope and the first word's start,
    then before each further word a Td relative to the previous word's start, along the
    slope; a Td going left (tx < 0) starts the next line of the block. Each Tm and Td
    becomes a level Tm at the word's start and its line's mean height."""
    starts = _word_starts(text_object)
    if starts is None:
        return text_object  # vertical or mirrored text: not skew, leave it be
    heights: dict[int, list[float]] = {}
    for line, _, y in starts:
        heights.setdefault(line, []).append(y)
    level = {line: sum(ys) / len(ys) for line, ys in heights.items()}
    word_starts = iter(starts)
    levelled = []
    for instruction in text_object:
        if _positions_a_word(instruction):
            line, x, _ = next(word_starts)
            instruction = ContentStreamInstruction(_level_at(x, level[line]), _SET_MATRIX)
        levelled.append(instruction)
    return levelled


def _word_starts(text_object: list) -> list[tuple[int, float, float]] | None:
    """(line, x, y) where each word of the text object starts, in text space; None when
    the text does not run left to right, upright, at a slope that skew explains."""
    matrix: list[float] | None = None
    starts: list[tuple[int, float, float]] = []
    for instruction in text_object:
        if instruction.operator == _SET_MATRIX:
            matrix = [float(value) for value in instruction.operands]
            a, b, _, d, e, f = matrix
            if not (a > 0 and d > 0 and abs(b) < _MAX_SKEW):
                return None
            starts.append((starts[-1][0] + 1 if starts else 0, e, f))
        elif instruction.operator == _MOVE_TO_NEXT:
            if matrix is None:
                return None  # a move from nowhere: not tesseract's kind of text object
            tx, ty = (float(value) for value in instruction.operands)
            a, b, c, d, e, f = matrix
            matrix = [a, b, c, d, e + tx * a + ty * c, f + tx * b + ty * d]
            line = starts[-1][0] + (1 if tx < 0 else 0)
            starts.append((line, matrix[4], matrix[5]))
    return starts


def _positions_a_word(instruction) -> bool:
    return instruction.operator in (_SET_MATRIX, _MOVE_TO_NEXT)


def _level_at(x: float, y: float) -> list:
    return [1, 0, 0, 1, _decimal(x), _decimal(y)]


def _decimal(value: float) -> Decimal:
    # Four places: a ten-thousandth of a point, far finer than a pixel at any resolution.
    return Decimal(f"{value:.4f}")
