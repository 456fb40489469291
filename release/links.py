"""Time-limited links (issue 18 item 2, delivery): a requester outside the hospital gets a URL
whose token is the only credential. The token is shown once, when the link is made; only its
SHA-256 is stored, so a copy of the database holds no working link. A link pins the packet
that was latest when it was made, works until it expires, is revoked, or has served its last
allowed download, and every look at it and every download is audited with the link, the
remote address and the user agent."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.auth.permissions import Principal, require
from archive.auth.restricted import require_chart_access
from archive.errors import ArchiveError, BadRequest, Conflict, NotFound
from archive.models import utcnow
from release.link_models import ReleaseLink
from release.models import ReleaseRequest
from release.packet_models import ReleasePacket
from release.packets import latest_packet
from release.requests import MANAGE, VIEW, audit_request, get_request
from release.workflow import APPROVED, FULFILLED

DEFAULT_DAYS, DEFAULT_DOWNLOADS = 7, 3
# Only requests cleared for release may hand their packet out.
DELIVERABLE = (APPROVED, FULFILLED)
ACTIVE, REVOKED, EXPIRED, USED_UP = "active", "revoked", "expired", "used_up"
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
USER_AGENT_LENGTH = 300


class LinkGone(ArchiveError):
    """The link existed but no longer hands anything out (HTTP 410 Gone)."""

    http_status = 410
    code = "link_gone"

    def __init__(self, link: ReleaseLink, state: str):
        reasons = {REVOKED: "was withdrawn by the hospital",
                   EXPIRED: f"expired on {link.expires_at:%Y-%m-%d %H:%M} UTC",
                   USED_UP: f"has been used for all {link.max_downloads} downloads it allowed"}
        super().__init__(f"This link to the records of request #{link.request_id} "
                         f"{reasons[state]}.")
        self.state = state
        self.link_id = link.id
        self.request_id = link.request_id


@dataclass(frozen=True)
class Visitor:
    """Who opened a link, as far as the web can tell."""

    address: str
    user_agent: str


@dataclass(frozen=True)
class LinkPage:
    """What the recipient's page shows."""

    request_id: int
    recipient: str
    expires_at: datetime
    remaining: int


def hash_link_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_state(link: ReleaseLink, now: datetime | None = None) -> str:
    if link.revoked_at is not None:
        return REVOKED
    if link.expires_at <= (now or utcnow()):
        return EXPIRED
    if link.downloads >= link.max_downloads:
        return USED_UP
    return ACTIVE


def create_link(db, principal: Principal, request_id: int, *, expires_in_days: int,
                max_downloads: int, max_days: int) -> tuple[ReleaseLink, str]:
    """A new link to the request's latest packet, and its token (never stored, never shown
    again)."""
    require(principal, MANAGE)
    _check_terms(expires_in_days, max_downloads, max_days)
    token = secrets.token_urlsafe(32)
    with db.transaction() as session:
        row = get_request(session, request_id)
        _check_deliverable(session, principal, row)
        packet = _packet_to_pin(session, request_id)
        link = ReleaseLink(request_id=request_id, packet_id=packet.id,
                           token_hash=hash_link_token(token),
                           expires_at=utcnow() + timedelta(days=expires_in_days),
                           max_downloads=max_downloads, downloads=0, revoked_by="",
                           created_by=principal.username)
        session.add(link)
        session.flush()
        audit_request(session, principal, row, "request.link_create", details={
            "link": link.id, "packet": packet.id, "expires": link.expires_at.isoformat(),
            "max_downloads": max_downloads})
        return link, token


def _check_terms(expires_in_days: int, max_downloads: int, max_days: int) -> None:
    if not 1 <= expires_in_days <= max_days:
        raise BadRequest(f"expires_in_days must be between 1 and {max_days} (the longest a "
                         "link may live here); give a shorter period.")
    if max_downloads < 1:
        raise BadRequest("max_downloads must be at least 1.")


def _check_deliverable(session: Session, principal: Principal, row: ReleaseRequest) -> None:
    if row.status not in DELIVERABLE:
        raise Conflict(f"Request {row.id} is {row.status}: a link is made only for a request "
                       "that is approved or fulfilled. Approve it first.")
    # The link hands the charts out: a restricted one needs the glass broken first.
    for patient in row.patients:
        require_chart_access(session, principal, patient)


def _packet_to_pin(session: Session, request_id: int) -> ReleasePacket:
    try:
        return latest_packet(session, request_id)
    except NotFound:
        raise Conflict(f"Request {request_id} has no packet yet: build the packet, then "
                       "make the link.") from None


def request_links(session: Session, principal: Principal, request_id: int) -> list[ReleaseLink]:
    """The request's links, newest first (without tokens: none are kept)."""
    require(principal, VIEW)
    get_request(session, request_id)
    return list(session.scalars(select(ReleaseLink).where(ReleaseLink.request_id == request_id)
                                .order_by(ReleaseLink.id.desc())))


def revoke_link(db, principal: Principal, request_id: int, link_id: int) -> ReleaseLink:
    require(principal, MANAGE)
    with db.transaction() as session:
        row = get_request(session, request_id)
        link = session.get(ReleaseLink, link_id)
        if link is None or link.request_id != request_id:
            raise NotFound(f"Request {request_id} has no link {link_id}.")
        if link.revoked_at is not None:
            raise Conflict(f"Link {link_id} was already revoked by {link.revoked_by} on "
                           f"{link.revoked_at:%Y-%m-%d %H:%M} UTC.")
        link.revoked_at = utcnow()
        link.revoked_by = principal.username
        audit_request(session, principal, row, "request.link_revoke",
                      details={"link": link.id, "downloads": link.downloads})
        return link


# --- what the recipient reaches with the token ------------------------------------------------


def open_link_page(db, token: str, visitor: Visitor) -> LinkPage:
    """The recipient's page for a working link; the look is audited."""
    with _refusals_audited(db, visitor), db.transaction() as session:
        link = _active_link(session, token)
        row = get_request(session, link.request_id)
        _audit_visit(session, link, row, "request.link_view", visitor)
        return LinkPage(request_id=row.id, recipient=row.requester_name,
                        expires_at=link.expires_at,
                        remaining=link.max_downloads - link.downloads)


def take_download(ext, token: str, visitor: Visitor):
    """Count one download of the link's packet and return the packet's row and its bytes,
    verified as they stream. The count is taken by one conditional UPDATE, so two
    downloads at the same moment cannot both take the last one."""
    with _refusals_audited(ext.db, visitor), ext.db.transaction() as session:
        link = _active_link(session, token)
        now = utcnow()
        taken = session.execute(
            update(ReleaseLink)
            .where(ReleaseLink.id == link.id, ReleaseLink.revoked_at.is_(None),
                   ReleaseLink.expires_at > now,
                   ReleaseLink.downloads < ReleaseLink.max_downloads)
            .values(downloads=ReleaseLink.downloads + 1, last_download_at=now)
            .execution_options(synchronize_session=False)).rowcount
        session.refresh(link)
        if not taken:
            raise LinkGone(link, link_state(link, now))
        row = get_request(session, link.request_id)
        packet = session.get(ReleasePacket, link.packet_id)
        _audit_visit(session, link, row, "request.link_download", visitor, packet=packet.id,
                     download=link.downloads, max_downloads=link.max_downloads,
                     sha256=packet.sha256)
    chunks = ext.store.open(packet.object_key, packet.store_version_id,
                            expected_sha256=packet.sha256)
    return packet, chunks


@contextmanager
def _refusals_audited(db, visitor: Visitor) -> Iterator[None]:
    """A LinkGone is audited as a refusal, in a transaction of its own: the one that
    refused rolls back."""
    try:
        yield
    except LinkGone as gone:
        with db.transaction() as session:
            link = session.get(ReleaseLink, gone.link_id)
            _audit_visit(session, link, get_request(session, link.request_id),
                         "request.link_refused", visitor, outcome="refused", state=gone.state)
        raise


def _active_link(session: Session, token: str) -> ReleaseLink:
    """The working link the token names: NotFound for no link, LinkGone for one that no
    longer works."""
    link = _find_link(session, token)
    state = link_state(link)
    if state != ACTIVE:
        raise LinkGone(link, state)
    return link


def _find_link(session: Session, token: str) -> ReleaseLink:
    unknown = NotFound("There is no such link. Check that the whole address was copied from "
                       "the message you received.")
    if not TOKEN_SHAPE.match(token):
        raise unknown
    digest = hash_link_token(token)
    link = session.scalar(select(ReleaseLink).where(ReleaseLink.token_hash == digest))
    # The row is found by the token's hash, so the lookup's timing says nothing about the
    # token; the final comparison is constant-time all the same.
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        raise unknown
    return link


def _audit_visit(session: Session, link: ReleaseLink, row: ReleaseRequest, action: str,
                 visitor: Visitor, outcome: str = "success", **details) -> None:
    mrns = [patient.mrn for patient in row.patients]
    audit.record(session, Actor(f"link:{link.id}", visitor.address[:64]), action,
                 outcome=outcome, patient_mrn=mrns[0] if mrns else None,
                 details={"request": row.id, "patients": mrns, "link": link.id,
                          "remote_address": visitor.address,
                          "user_agent": visitor.user_agent[:USER_AGENT_LENGTH], **details})
