"""The figures the API and the dashboard show, by name, each with the table of rows it plots,
cached for CACHE_SECONDS per app and keyed by the figure and its period.

The cache is why a dashboard reloaded by a whole department costs the database one round of
queries a minute; the price is that a figure may be up to a minute old (the page says so).
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy.orm import Session

from archive.audit import spreadsheet_safe
from archive.extensions import archive
from stats import figures
from stats.periods import Period, today_in

CACHE_SECONDS = 60


@dataclass(frozen=True)
class Figure:
    """One figure: how to compute it, which list of its answer is plotted, and that list's
    columns (the data table and the CSV show exactly these)."""

    title: str
    compute: Callable[[Session, Period], dict]
    rows: str
    columns: tuple[str, ...]


def _filing(session: Session, period: Period) -> dict:
    return {"days": figures.filing(session, period)}


def _ocr(session: Session, period: Period) -> dict:
    return {"backlog": figures.ocr_backlog(session, datetime.now(UTC)),
            "time_to_ready": figures.ocr_time_to_ready(session, period),
            "days": figures.ocr_days(session, period)}


def _qc(session: Session, period: Period) -> dict:
    return {"kinds": figures.qc_flags(session, period)}


def _requests(session: Session, period: Period) -> dict:
    return {"summary": figures.request_summary(session, period, today_in(period.zone)),
            "months": figures.request_months(session, period)}


def _storage(session: Session, period: Period) -> dict:
    return {"bytes_now": figures.storage_now(session),
            "months": figures.storage_months(session, period)}


FIGURES: dict[str, Figure] = {
    "filing": Figure("Documents and pages filed per day", _filing, "days",
                     ("date", "documents", "pages")),
    "ocr": Figure("OCR: time from upload to ready per day (seconds)", _ocr, "days",
                  ("date", "ready", "median_seconds", "p95_seconds")),
    "qc": Figure("Quality-control flags raised and resolved, by kind", _qc, "kinds",
                 ("kind", "raised", "resolved")),
    "requests": Figure("Requests for records per month", _requests, "months",
                       ("month", "received", "fulfilled", "median_turnaround_days")),
    "storage": Figure("Storage added per month (bytes)", _storage, "months",
                      ("month", "bytes_added")),
}


class FigureCache:
    """Answers by key for CACHE_SECONDS; thread-safe (the server answers in threads)."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds, self._lock, self._answers = seconds, threading.Lock(), {}

    def get(self, key: tuple, compute: Callable[[], dict]) -> dict:
        now = time.monotonic()
        with self._lock:
            found = self._answers.get(key)
            if found and found[0] > now:
                return found[1]
        answer = compute()  # outside the lock: a slow query must not hold up other figures
        with self._lock:
            # Expired answers are dropped as new ones come, so the cache cannot grow unbounded.
            self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
            self._answers[key] = (now + self.seconds, answer)
        return answer


def figure_of(name: str, period: Period) -> dict:
    """The figure ``name`` over ``period``, with the period it covers, from the cache."""
    figure = FIGURES[name]
    cache = current_app.extensions.setdefault("stats_cache", FigureCache())

    def compute() -> dict:
        with archive().db.transaction() as session:
            return figure.compute(session, period)

    answer = cache.get((name, period.first, period.last, period.zone.key), compute)
    return {"from": period.first.isoformat(), "to": period.last.isoformat(),
            "timezone": period.zone.key, **answer}


def figure_csv(name: str, answer: dict) -> str:
    """The plotted rows of a figure as CSV, every cell safe to open in a spreadsheet."""
    figure, out = FIGURES[name], io.StringIO()
    writer = csv.writer(out)
    writer.writerow(figure.columns)
    for row in answer[figure.rows]:
        writer.writerow([_cell(row[column]) for column in figure.columns])
    return out.getvalue()


def _cell(value) -> str:
    return "" if value is None else spreadsheet_safe(str(value))
