"""Numbers and dates from the URL, a form or a path, each with a documented range, and the
paging of every list.

Every numeric parameter of every route goes through here, so no request can hand the database
an integer it cannot store or the search index a window it cannot allocate: a value outside
its range is a 400 that names the parameter and the range (a path id outside it is a 404,
since no such record can exist).
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

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


ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: object, field: str) -> date | None:
    """A ``YYYY-MM-DD`` date from a form, a query or JSON; anything else is a 400 naming the
    field (JSON may send a number, a list or an object where a date belongs)."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass  # 2026-02-30
    raise BadRequest(f"{field} must be a date written YYYY-MM-DD, not {reprlib.repr(value)}.")


@dataclass(frozen=True)
class Paging:
    """One page of a list: which page, how many rows a page holds, and what that makes of a
    query and of a total. Every paged list of the archive goes through it."""

    page: int
    size: int

    @classmethod
    def of(cls, values: Mapping[str, str], size: int) -> Paging:
        return cls(page_number(values), size)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def rows_of(self, query):
        """``query`` limited to this page's rows (it must be ordered)."""
        return query.offset(self.offset).limit(self.size)

    def pages(self, total: int) -> int:
        """How many pages ``total`` rows fill; at least one, so an empty list has a page."""
        return max(1, math.ceil(total / self.size))

    def within(self, total: int) -> Paging:
        """This paging, its page brought back to the last one ``total`` rows fill."""
        return Paging(min(self.page, self.pages(total)), self.size)
