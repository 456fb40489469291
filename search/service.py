"""Search as the API, the web page and the benchmark call it: one function that checks who
asks, parses, applies access, asks the index and writes the audit event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from archive import audit
from archive.auth.permissions import Principal, require
from archive.auth.restricted import granted_patient_ids
from archive.errors import BadRequest
from archive.extensions import Archive
from archive.params import MAX_RESULT_WINDOW, Paging, page_number, parse_date, whole_number
from search.home import OpenIndex
from search.interfaces import Access, SearchQuery, SearchResults
from search.query import parse_query

PER_PAGE = 20
MAX_PER_PAGE = 100
SORTS = ("relevance", "date")


@dataclass(frozen=True)
class SearchRequest:
    """What a person asked for, before parsing: the query text and the filters."""

    q: str = ""
    mrn: str | None = None
    doc_type: str | None = None
    department: str | None = None
    icd_code: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    sort: str = "relevance"
    page: int = 1  # 1-based
    per_page: int = PER_PAGE
    all_versions: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> SearchRequest:
        """From URL query arguments (web form and API alike); a bad value is a 400 that
        names the argument."""
        return cls(
            q=(args.get("q") or "").strip(),
            mrn=_text(args.get("mrn")),
            doc_type=_text(args.get("type")),
            department=_text(args.get("department")),
            icd_code=_text(args.get("icd"), upper=True),
            date_from=parse_date(args.get("from"), "from"),
            date_to=parse_date(args.get("to"), "to"),
            sort=_choice(args.get("sort") or "relevance", SORTS, "sort"),
            page=page_number(args),
            per_page=whole_number(
                args.get("per_page"), "per_page", low=1, high=MAX_PER_PAGE, default=PER_PAGE
            ),
            all_versions=args.get("versions") == "all",
        )

    def __post_init__(self):
        # The index allocates the whole window up to the page asked for: bound it.
        if self.page * self.per_page > MAX_RESULT_WINDOW:
            raise BadRequest(
                f"page {self.page:,} of {self.per_page} results is beyond the "
                f"{MAX_RESULT_WINDOW:,} results a search shows (page × per_page at most "
                f"{MAX_RESULT_WINDOW:,}). Narrow the search with words or filters."
            )

    @property
    def filters(self) -> dict:
        """The filters in force, as written into the audit event."""
        values = {
            "mrn": self.mrn,
            "type": self.doc_type,
            "department": self.department,
            "icd": self.icd_code,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "versions": "all" if self.all_versions else None,
        }
        return {key: value for key, value in values.items() if value}

    @property
    def empty(self) -> bool:
        return not self.q and not self.filters


def _text(value: str | None, *, upper: bool = False) -> str | None:
    value = (value or "").strip()
    return (value.upper() if upper else value) or None


def _choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


@dataclass(frozen=True)
class SearchPage:
    request: SearchRequest
    results: SearchResults

    @property
    def pages(self) -> int:
        return Paging(self.request.page, self.request.per_page).pages(self.results.total)


def search(
    ext: Archive, index: OpenIndex, principal: Principal, request: SearchRequest
) -> SearchPage:
    """Run one search for ``principal``: results only from documents they may read, and an
    audit event with the query, the filters and how many documents matched."""
    require(principal, "search.run")
    if request.empty:
        raise BadRequest("Type something to look for, or choose a filter (MRN, type, dates).")
    if request.date_from and request.date_to and request.date_from > request.date_to:
        raise BadRequest("The 'from' date is after the 'to' date; swap them.")
    text = parse_query(request.q)
    with ext.db.transaction() as session:
        access = Access(granted_patient_ids(session, principal))
    query = SearchQuery(
        text=text,
        access=access,
        mrn=request.mrn,
        doc_type=request.doc_type,
        department=request.department,
        icd_code=request.icd_code,
        date_from=request.date_from,
        date_to=request.date_to,
        all_versions=request.all_versions,
        sort=request.sort,  # type: ignore[arg-type] - checked by SearchRequest
        offset=(request.page - 1) * request.per_page,
        limit=request.per_page,
    )
    results = index.get().search(query)
    with ext.db.transaction() as session:
        audit.record(
            session,
            principal.actor,
            "search.run",
            patient_mrn=request.mrn,
            details={
                "query": request.q,
                "filters": request.filters,
                "results": results.total,
                "page": request.page,
            },
        )
    return SearchPage(request, results)
