"""Who may do what: the one permission check used by web, API and CLI alike."""

from __future__ import annotations

from dataclasses import dataclass

from archive.audit import Actor
from archive.errors import PermissionDenied

# permission -> roles that hold it. Least privilege: clerks file scans and see document
# metadata but not clinical content; administrators manage accounts, not charts.
PERMISSIONS: dict[str, frozenset[str]] = {
    "session": frozenset({"clerk", "staff", "compliance", "admin"}),
    "patient.view": frozenset({"clerk", "staff", "compliance"}),
    "patient.create": frozenset({"clerk", "admin"}),
    # Demographics and the restricted flag, not clinical content; corrections are audited.
    "patient.edit": frozenset({"clerk", "admin"}),
    "document.view": frozenset({"clerk", "staff", "compliance"}),
    "document.read": frozenset({"staff", "compliance"}),
    # The page images and recognised text: whoever holds document.read, and clerks for the
    # documents in their work only (the QC queue, their last week's filings; auth.work).
    "document.read_work": frozenset({"clerk", "staff", "compliance"}),
    "document.upload": frozenset({"clerk"}),
    "document.edit": frozenset({"clerk"}),
    "qc.review": frozenset({"clerk"}),
    "audit.view": frozenset({"compliance"}),
    "retention.manage": frozenset({"compliance"}),
    "hold.manage": frozenset({"compliance"}),
    # Searching shows snippets of clinical text: only for those who read charts. Clerks
    # find patients by MRN instead; admins run the system and see no clinical text.
    "search.run": frozenset({"staff", "compliance"}),
    "index.manage": frozenset({"admin"}),
    # Whoever may read charts may open a restricted one in an emergency, giving a reason;
    # compliance reviews each such access afterwards.
    "chart.break_glass": frozenset({"staff", "compliance"}),
    "break_glass.review": frozenset({"compliance"}),
    "user.manage": frozenset({"admin"}),
    # Replication and integrity: admins keep the system running, compliance answers for
    # the records never being lost.
    "backup.view": frozenset({"admin", "compliance"}),
    # Release of information is the work of authorized staff (DESIGN.md names release-of-
    # information clerks among them): they log requests and move them to a release. A
    # request names whose records someone wants, so clerks and admins see none; compliance
    # reads requests to oversee the legal clocks but does not release records itself.
    "release.view": frozenset({"staff", "compliance"}),
    "release.manage": frozenset({"staff"}),
    # A patient's encounters (admissions, visits, attending): staff and compliance read
    # charts; admins watch the hospital's ADT feed arrive. No clinical text in them.
    "encounter.view": frozenset({"staff", "compliance", "admin"}),
    # The department's numbers (counts, backlogs, turnaround; no patient is named): for
    # those who answer for the department, compliance, and for admins, who size and run the
    # system. Clerks and staff are measured by these figures and do not read each other's.
    "stats.view": frozenset({"compliance", "admin"}),
}

# The operator at the server's shell (the CLI) already holds the data directory and the
# database credentials; it acts as this role, and its actions are audited as "cli:<name>".
SYSTEM_ROLE = "system"


@dataclass(frozen=True)
class Principal:
    """The authenticated party behind a request or command."""

    username: str
    role: str
    user_id: int | None = None
    source: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.source)


def can(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return role == SYSTEM_ROLE or role in PERMISSIONS[permission]


def require(principal: Principal, permission: str) -> None:
    if not can(principal.role, permission):
        raise PermissionDenied(
            f"Your role ({principal.role}) does not allow this ({permission}). Ask an "
            "administrator if your work needs it."
        )


def roles_with(permission: str) -> frozenset[str]:
    return PERMISSIONS[permission]
