"""What the integrity scrub finds and how it is kept: the object as checked, the problem
with one of its copies, the finding row and its audit event, and the report of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.models import Document, DocumentVersion, Patient
from backup.models import ScrubFinding
from backup.store_workers import CORRUPT, MISSING, Problem  # noqa: F401 - theirs, named here too

CHECKED_STATES = ("pending", "failed", "replicated")  # "destroying" is being deleted on purpose
NOT_REPLICATED = ("pending", "failed")

PRIMARY, REPLICA = "primary", "replica"
REPAIRED, UNREPAIRED = "repaired", "unrepaired"


# --- the report of a run ---------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    key: str
    version_id: str  # in the primary store, as found
    side: str  # primary, replica
    problem: str  # missing, corrupt
    outcome: str  # repaired, unrepaired
    detail: str

    def line(self) -> str:
        return (f"{self.outcome.upper()}: {self.side} copy of {self.key} (version "
                f"{self.version_id}) {self.problem}. {self.detail}")


@dataclass
class ScrubReport:
    checked: int = 0  # objects
    repaired: int = 0  # bad copies replaced from the other copy
    unrepaired: int = 0  # bad copies with no good copy to repair them from
    bytes_verified: int = 0  # on both sides
    findings: list[Finding] = field(default_factory=list)  # of this run, unrepaired repeats too
    # Of the objects checked, those with no replica copy yet (only the primary was read),
    # and of them the ones found corrupt or missing: lost, as no other copy exists.
    unreplicated: int = 0
    unreplicated_corrupt: int = 0
    unreplicated_missing: int = 0

    def unreplicated_line(self) -> str:
        text = (f"not yet replicated: {self.unreplicated:,}, of which corrupt: "
                f"{self.unreplicated_corrupt:,}")
        if self.unreplicated_missing:
            text += f", missing: {self.unreplicated_missing:,}"
        return text

    def summary(self) -> str:
        text = f"Checked {self.checked:,} stored objects ({self.bytes_verified / 1e9:.2f} GB "
        text += "verified)"
        if self.unreplicated:
            # Apart: "intact" below must not read as "safe in two places" for these.
            text += f"; {self.unreplicated_line()}"
        if not (self.repaired or self.unrepaired):
            return text + ": all intact."
        if self.repaired:
            text += f"; repaired {self.repaired} bad cop{'y' if self.repaired == 1 else 'ies'}"
            text += " from the other copy"
        if self.unrepaired:
            text += (f"; {self.unrepaired} bad cop{'y' if self.unrepaired == 1 else 'ies'} "
                     "could NOT be repaired: no good copy is left (see the backup page)")
        return text + "."


# --- what is checked, and what is found ------------------------------------------------------


@dataclass(frozen=True)
class ScrubbedObject:
    id: int
    key: str
    version_id: str
    sha256: str
    size: int
    kind: str
    state: str
    replica_version_id: str | None
    checked_at: datetime | None

    @property
    def replicated(self) -> bool:
        return self.state == "replicated" and bool(self.replica_version_id)


# --- findings ---------------------------------------------------------------------------------


def record_finding(ext, obj: ScrubbedObject, side: str, problem: Problem, outcome: str, now,
                   actor, report, extra: str = "") -> None:
    with ext.db.transaction() as session:
        problem = Problem(problem.kind, problem.detail + extra)
        if outcome == UNREPAIRED and _already_reported(session, obj, side):
            # Still bad, and still on the page: counted (the job fails again), not repeated.
            report.unrepaired += 1
            report.findings.append(Finding(obj.key, obj.version_id, side, problem.kind,
                                           outcome, problem.detail))
            return
        add_finding(session, obj, side, problem, outcome, now, actor, report, {})


def _already_reported(session: Session, obj: ScrubbedObject, side: str) -> bool:
    since = [ScrubFinding.found_at > obj.checked_at] if obj.checked_at is not None else []
    return session.scalar(
        select(ScrubFinding.id).where(
            ScrubFinding.key == obj.key, ScrubFinding.version_id == obj.version_id,
            ScrubFinding.side == side, ScrubFinding.outcome == UNREPAIRED, *since,
        ).limit(1)
    ) is not None


def add_finding(session: Session, obj: ScrubbedObject, side: str, problem: Problem, outcome: str,
                 now: datetime, actor: Actor, report: ScrubReport, details: dict) -> int:
    finding = ScrubFinding(found_at=now, key=obj.key, version_id=obj.version_id, side=side,
                           problem=problem.kind, outcome=outcome, detail=problem.detail)
    session.add(finding)
    document = session.execute(
        select(DocumentVersion.document_id, DocumentVersion.number, Patient.mrn)
        .join(Document, Document.id == DocumentVersion.document_id)
        .join(Patient, Patient.id == Document.patient_id)
        .where(DocumentVersion.object_key == obj.key,
               DocumentVersion.store_version_id.in_([obj.version_id,
                                                     details.get("new_version_id", "")]))
    ).first()
    audit.record(
        session, actor, f"integrity.object_{problem.kind}",
        outcome="repaired" if outcome == REPAIRED else "failed",
        patient_mrn=document.mrn if document else None,
        document_id=document.document_id if document else None,
        version_number=document.number if document else None,
        details={"key": obj.key, "version_id": obj.version_id, "side": side,
                 "kind": obj.kind, "sha256": obj.sha256, **details},
    )
    if outcome == REPAIRED:
        report.repaired += 1
    else:
        report.unrepaired += 1
    report.findings.append(Finding(obj.key, obj.version_id, side, problem.kind, outcome,
                                   problem.detail))
    return finding.id
