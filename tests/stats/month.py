"""A fixture month for the statistics: March 2026 in America/Chicago (daylight saving time
starts on the 8th, so one local day is 23 hours long), with documents, versions, OCR runs,
QC flags and requests at chosen or seeded-random moments, and the expected figures computed
here in plain Python, independently of the SQL that stats.figures runs.

The rows are written straight into the tables: the filing service stamps "now", and a month
of figures needs moments in the past. One test also files a real scan through the service.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from archive.models import Document, DocumentVersion, Patient
from ingest.models import Derivative, Job, QcFlag
from release.models import Disclosure, ReleaseRequest

ZONE = ZoneInfo("America/Chicago")
FIRST, LAST = date(2026, 3, 1), date(2026, 3, 31)
# 23:30 on the 10th in Chicago is 04:30 on the 11th in UTC: it must count on the 10th.
LATE_EVENING = datetime(2026, 3, 10, 23, 30, tzinfo=ZONE)


def nearest_rank(values: list[float], percent: int) -> float | None:
    """The textbook nearest-rank percentile: the ceil(p/100 * n)-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(percent / 100 * len(ordered)) - 1]


@dataclass
class Expected:
    documents: Counter = field(default_factory=Counter)  # local date -> documents filed
    pages: Counter = field(default_factory=Counter)  # local date -> pages filed
    ready_seconds: dict = field(default_factory=lambda: defaultdict(list))  # date -> seconds
    qc: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # kind -> [up, down]
    turnaround_days: list = field(default_factory=list)
    received: int = 0
    fulfilled: int = 0
    overdue: int = 0
    bytes_added: int = 0


def local_day(moment: datetime) -> str:
    return moment.astimezone(ZONE).date().isoformat()


def fill_month(session, patient_id: int, clerk_id: int, *, seed: int = 20) -> Expected:
    """Write the month's rows; return what the figures must be."""
    rng, expected = random.Random(seed), Expected()
    moments = [LATE_EVENING] + [
        datetime(2026, 3, rng.randint(1, 31), rng.randint(0, 23), rng.randint(0, 59),
                 tzinfo=ZONE) for _ in range(40)]
    # Outside the month on either side in local time, inside it in one of the zones.
    moments += [datetime(2026, 2, 28, 23, 45, tzinfo=ZONE),
                datetime(2026, 4, 1, 0, 10, tzinfo=ZONE)]
    for number, moment in enumerate(moments):
        _fileadd_document_row(session, rng, expected, number, moment, patient_id, clerk_id)
    _pending_jobs(session, patient_id, clerk_id)
    _qc_flags(session, rng, expected, patient_id, clerk_id)
    _requests(session, expected, patient_id)
    return expected


def add_document_row(session, uid: str, patient_id: int, clerk_id: int | None,
                     moment: datetime) -> Document:
    document = Document(uid=uid, patient_id=patient_id, doc_type="discharge_summary",
                        status="ready", created_at=moment, created_by_id=clerk_id)
    session.add(document)
    session.flush()
    return document


def add_version_row(session, document: Document, number: int, moment: datetime, pages: int | None,
             size: int) -> DocumentVersion:
    version = DocumentVersion(
        document_id=document.id, number=number, object_key=f"{document.uid}/{number}",
        store_version_id="v", sha256=f"{document.uid}{number}".ljust(64, "0")[:64], size=size,
        media_type="application/pdf", page_count=pages, created_by_name="clerk1",
        created_at=moment)
    session.add(version)
    session.flush()
    return version


def _fileadd_document_row(session, rng, expected: Expected, number: int, moment: datetime,
                   patient_id: int, clerk_id: int) -> None:
    in_month = FIRST.isoformat() <= local_day(moment) <= LAST.isoformat()
    document = add_document_row(session, f"month{number:04d}", patient_id, clerk_id, moment)
    pages, size = rng.randint(1, 12), rng.randint(10_000, 900_000)
    version = add_version_row(session, document, 1, moment, pages, size)
    seconds = rng.randint(20, 4000)
    finished = moment + timedelta(seconds=seconds)
    session.add(Job(kind="ocr", document_id=document.id, version_id=version.id, status="done",
                    created_at=moment, finished_at=finished))
    derivative = rng.randint(1000, 50_000)
    session.add(Derivative(version_id=version.id, kind="searchable_pdf", object_key=f"d{number}",
                           store_version_id="v", sha256="0" * 64, size=derivative,
                           media_type="application/pdf", created_at=finished))
    if in_month:
        expected.documents[local_day(moment)] += 1
        expected.pages[local_day(moment)] += pages
        expected.bytes_added += size
    if FIRST.isoformat() <= local_day(finished) <= LAST.isoformat():
        expected.ready_seconds[local_day(finished)].append(seconds)
        expected.bytes_added += derivative
    if number % 7 == 3:  # a rescan two days later: its pages count, it is no new document
        later = moment + timedelta(days=2)
        add_version_row(session, document, 2, later, pages + 1, 1000)
        if FIRST.isoformat() <= local_day(later) <= LAST.isoformat():
            expected.pages[local_day(later)] += pages + 1
            expected.bytes_added += 1000


def _pending_jobs(session, patient_id: int, clerk_id: int) -> None:
    """Two scans still waiting for OCR (the backlog), filed before the month began."""
    for number, status in enumerate(("queued", "running")):
        moment = datetime(2026, 2, 1, 12, number, tzinfo=UTC)
        document = add_document_row(session, f"pending{number}", patient_id, clerk_id, moment)
        version = add_version_row(session, document, 1, moment, None, 500)
        session.add(Job(kind="ocr", document_id=document.id, version_id=version.id,
                        status=status, created_at=moment))


def _qc_flags(session, rng, expected: Expected, patient_id: int, clerk_id: int) -> None:
    document = add_document_row(session, "qcdoc", patient_id, clerk_id,
                         datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    kinds = ("mrn_missing", "unreadable_page", "=formula_kind")
    for _ in range(25):
        kind = rng.choice(kinds)
        raised = datetime(2026, rng.choice((2, 3)), rng.randint(1, 28), rng.randint(0, 23),
                          tzinfo=ZONE)
        reviewed = raised + timedelta(days=rng.randint(0, 20)) if rng.random() < 0.6 else None
        session.add(QcFlag(document_id=document.id, kind=kind, created_at=raised,
                           status="reviewed" if reviewed else "open", reviewed_at=reviewed,
                           reviewed_by="clerk1" if reviewed else None))
        if raised.month == 3:
            expected.qc[kind][0] += 1
        if reviewed and reviewed.astimezone(ZONE).month == 3 and reviewed.year == 2026:
            expected.qc[kind][1] += 1


# (received, status, due, days to first release or None)
REQUESTS = [
    (date(2026, 3, 2), "fulfilled", date(2026, 4, 1), 5),
    (date(2026, 3, 3), "closed", date(2026, 4, 2), 12),
    (date(2026, 3, 9), "fulfilled", date(2026, 4, 8), 2),
    (date(2026, 3, 15), "approved", date(2026, 4, 14), None),
    (date(2026, 3, 30), "fulfilled", date(2026, 4, 29), 20),
    (date(2026, 2, 1), "in_review", date(2026, 3, 3), None),  # outside; overdue now
    (date(2026, 1, 10), "logged", date(2026, 2, 9), None),  # outside; overdue now
    (date(2026, 1, 12), "closed", date(2026, 2, 11), 3),  # outside; closed, not overdue
]


def _requests(session, expected: Expected, patient_id: int) -> None:
    for number, (received, status, due, days) in enumerate(REQUESTS):
        row = ReleaseRequest(
            request_type="records", legal_basis="authorization", requester_kind="attorney",
            requester_name=f"Firm {number}", asked={"complete_chart": True}, received=received,
            status=status, due=due, notice_deadline=due, created_by="staff1")
        session.add(row)
        session.flush()
        if days is not None:
            for extra in (0, 3):  # two releases: the first one counts
                session.add(Disclosure(
                    patient_id=patient_id, request_id=row.id,
                    disclosed_on=received + timedelta(days=days + extra),
                    recipient_name=row.requester_name, description="complete chart",
                    legal_basis="authorization", exempt=False, recorded_by="staff1"))
        if FIRST <= received <= LAST:
            expected.received += 1
            if days is not None:
                expected.fulfilled += 1
                expected.turnaround_days.append(days)
        # Every due date here is in the past, so the open ones are overdue whatever today is.
        if status in ("logged", "in_review", "approved", "on_hold") and due < date.today():
            expected.overdue += 1


def patient_id_of(session, mrn: str) -> int:
    return session.query(Patient).filter_by(mrn=mrn).one().id
