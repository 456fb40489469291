"""The statistics API's shapes (archive.api_spec): one period query, one answer per figure."""

from __future__ import annotations

from pydantic import Field

from archive.api_spec import ISO_DATE, Answer, Request


class PeriodQuery(Request):
    # Local days of the hospital's time zone, both included; to defaults to today and from
    # to 29 days before it.
    from_: ISO_DATE | None = Field(None, alias="from")
    to: ISO_DATE | None = None


class Period(Answer):
    from_: str = Field(alias="from")
    to: str
    timezone: str


class FilingDay(Answer):
    date: str
    documents: int
    pages: int


class FilingOut(Period):
    days: list[FilingDay]


class Backlog(Answer):
    jobs: int
    oldest_seconds: int | None


class TimeToReady(Answer):
    ready: int
    median_seconds: float | None
    p95_seconds: float | None


class OcrDay(TimeToReady):
    date: str


class OcrOut(Period):
    backlog: Backlog
    time_to_ready: TimeToReady
    days: list[OcrDay]


class QcKind(Answer):
    kind: str
    raised: int
    resolved: int


class QcOut(Period):
    kinds: list[QcKind]


class RequestSummary(Answer):
    received: int
    fulfilled: int
    median_turnaround_days: float | None
    overdue_now: int


class RequestMonth(Answer):
    month: str
    received: int
    fulfilled: int
    median_turnaround_days: float | None


class RequestsOut(Period):
    summary: RequestSummary
    months: list[RequestMonth]


class StorageMonth(Answer):
    month: str
    bytes_added: int


class StorageOut(Period):
    bytes_now: int
    months: list[StorageMonth]
