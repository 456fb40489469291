"""Numbers from the URL, a form or a path, each with a documented range.

Every numeric parameter of every route goes through here, so no request can hand the database
an integer it cannot store or the search index a window it cannot allocate: a value outside
its range is a 400 that names the parameter and the range (a path id outside it is a 404,
since no such record can exist).
"""

from __future__ import annotations

from collections.abc import Mapping

from werkzeug.routing import IntegerConverter

from archive.errors import BadRequest

# Row ids are 32-bit integers in both databases.
MAX_ID = 2**31 - 1
# No list is paged beyond this: 10,000 rows of 20 are more than anyone reads, and the search
# index must never be asked for a window deeper than MAX_RESULT_WINDOW hits.
MAX_PAGE = 10_000
MAX_RESULT_WINDOW = 10_000
_MAX_DIGITS = len(str(MAX_ID))


class RecordId(IntegerConverter):
    """``<int:...>`` in every route: 1 to MAX_ID, ASCII digits only."""

    def __init__(self, url_map, fixed_digits=0, min=1, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def whole_number(
    value: str | None, name: str, *, low: int, high: int, default: int | None = None
) -> int | None:
    """``value`` as an int in [low, high]; ``default`` when it is missing or blank."""
    if value is None or not str(value).strip():
        return default
    text = str(value).strip()
    # isascii: str.isdigit also accepts digits of other scripts ('٣') and superscripts.
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_DIGITS + 2:
        raise BadRequest(f"{name} must be a whole number from {low:,} to {high:,}, not {text!r}.")
    number = int(text)
    if not low <= number <= high:
        raise BadRequest(f"{name} must be from {low:,} to {high:,}, not {number:,}.")
    return number


def page_number(values: Mapping[str, str], name: str = "page") -> int:
    """The 1-based page of a paged list (1 to MAX_PAGE; 1 when not given)."""
    return whole_number(values.get(name), name, low=1, high=MAX_PAGE, default=1)


def optional_id(value: str | None, name: str) -> int | None:
    """A record id given as a filter or a form field (1 to MAX_ID), or None."""
    return whole_number(value, name, low=1, high=MAX_ID)
