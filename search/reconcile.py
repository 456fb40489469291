"""Reconciling the index with the database: find documents whose index records drifted
(missing, stale, orphaned), repair them, and keep each run's findings for admins.

Runs are rows (search.models.ReconcileRun): an admin or the daily schedule requests one, the
indexer loop runs it. A run that dies half-way is left "running" and its repairs are
harmless to repeat; the next requested run does the whole comparison again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from archive import audit
from archive.audit import Actor
from archive.auth.permissions import Principal, require
from archive.extensions import Archive
from archive.models import utcnow
from search.home import OpenIndex
from search.indexer import document_batches, drain_outbox, load_documents
from search.models import ReconcileRun

log = logging.getLogger(__name__)

REPAIR_BATCH = 200  # documents re-indexed per commit when repairing drift
SCHEDULE = timedelta(hours=24)
FINDINGS_KEPT = 200  # document ids kept per finding kind (the counts are always complete)
INDEXER = Actor("indexer", "worker")


@dataclass(frozen=True)
class Drift:
    documents_checked: int
    missing: list[int]  # in the database with pages, absent from the index
    stale: list[int]  # indexed, but not as the database now holds them
    orphaned: list[int]  # in the index, no longer in the database

    @property
    def documents(self) -> list[int]:
        return sorted({*self.missing, *self.stale, *self.orphaned})


def find_drift(ext: Archive, indexed: dict[int, dict[int, str]]) -> Drift:
    """Compare what the index holds (document -> version -> fingerprint) with what the
    database says it should hold, document by document."""
    missing, stale, seen = [], [], set()
    for batch in document_batches(ext.db):
        for document_id, versions in batch.items():
            seen.add(document_id)
            expected = {v.version: v.fingerprint for v in versions}
            actual = indexed.get(document_id, {})
            if expected == actual:
                continue
            (stale if actual else missing).append(document_id)
    return Drift(len(seen), missing, stale, sorted(set(indexed) - seen))


def reconcile(ext: Archive, index: OpenIndex) -> Drift:
    """Find drift between index and database and repair it by indexing the drifted
    documents again from the database. The outbox is drained first: a change still waiting
    there is not drift."""
    with index.home.writer_lock(wait=120):
        current = index.get()
        drain_outbox(ext.db, current)
        drift = find_drift(ext, current.fingerprints())
        ids = drift.documents
        for start in range(0, len(ids), REPAIR_BATCH):
            with ext.db.transaction() as session:
                current.replace_documents(
                    load_documents(session, ids[start : start + REPAIR_BATCH])
                )
    return drift


# --- runs -------------------------------------------------------------------------------------


def request_run(ext: Archive, principal: Principal) -> ReconcileRun:
    """An admin asks for a reconcile now; the indexer picks it up within seconds."""
    require(principal, "index.manage")
    with ext.db.transaction() as session:
        run = ReconcileRun(status="requested", requested_by=principal.username)
        session.add(run)
        audit.record(session, principal.actor, "index.reconcile_requested")
    return run


def schedule_if_due(ext: Archive, now=None) -> bool:
    """Request a run when none was requested within SCHEDULE; True if one was."""
    now = now or utcnow()
    with ext.db.transaction() as session:
        latest = session.scalar(select(ReconcileRun.requested_at).order_by(ReconcileRun.id.desc()))
        if latest is not None and now - latest < SCHEDULE:
            return False
        session.add(ReconcileRun(status="requested", requested_by="schedule", requested_at=now))
    return True


def run_requested(ext: Archive, index: OpenIndex) -> int | None:
    """Run the oldest requested reconcile, if any; its id."""
    run_id = _claim(ext)
    if run_id is None:
        return None
    try:
        drift = reconcile(ext, index)
    except Exception as err:
        _finish(ext, run_id, status="failed", error=f"{type(err).__name__}: {err}"[:500])
        raise
    _finish(ext, run_id, status="done", drift=drift)
    return run_id


def _claim(ext: Archive) -> int | None:
    with ext.db.transaction() as session:
        run_id = session.scalar(
            select(ReconcileRun.id)
            .where(ReconcileRun.status == "requested")
            .order_by(ReconcileRun.id)
        )
        if run_id is None:
            return None
        claimed = session.execute(
            update(ReconcileRun)
            .where(ReconcileRun.id == run_id, ReconcileRun.status == "requested")
            .values(status="running", started_at=utcnow())
        ).rowcount
        return run_id if claimed else None


def _finish(ext: Archive, run_id: int, *, status: str, drift: Drift | None = None, error=""):
    with ext.db.transaction() as session:
        run = session.get(ReconcileRun, run_id)
        run.status = status
        run.finished_at = utcnow()
        run.error = error
        if drift is not None:
            run.documents_checked = drift.documents_checked
            run.repaired = len(drift.documents)
            run.findings = {
                kind: {"count": len(ids), "documents": ids[:FINDINGS_KEPT]}
                for kind, ids in (
                    ("missing", drift.missing),
                    ("stale", drift.stale),
                    ("orphaned", drift.orphaned),
                )
            }
        audit.record(
            session,
            INDEXER,
            "index.reconcile",
            outcome="ok" if status == "done" else status,
            details={"run": run_id, "repaired": run.repaired, "error": error},
        )


def recent_runs(ext: Archive, principal: Principal, limit: int = 20) -> list[ReconcileRun]:
    require(principal, "index.manage")
    with ext.db.transaction() as session:
        return list(
            session.scalars(select(ReconcileRun).order_by(ReconcileRun.id.desc()).limit(limit))
        )
