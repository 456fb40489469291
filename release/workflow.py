"""The status workflow of a request, as one table of allowed moves:

    logged -> in_review -> approved | denied -> (approved) fulfilled -> closed; denied -> closed

and, from any open status, on_hold (waiting for payment or a valid authorization), which
returns only to the status it was put on hold from. A denial and a hold need a reason: the
denial letter and the queue show it.

An amendment request is the one exception: it releases no records, so it never passes through
fulfilled, and once its amendment is filed it closes straight from approved.
"""

from __future__ import annotations

from archive.errors import BadRequest, Conflict

LOGGED, IN_REVIEW, APPROVED, DENIED = "logged", "in_review", "approved", "denied"
FULFILLED, CLOSED, ON_HOLD = "fulfilled", "closed", "on_hold"
STATUSES = (LOGGED, IN_REVIEW, APPROVED, DENIED, FULFILLED, CLOSED, ON_HOLD)

NEXT: dict[str, tuple[str, ...]] = {
    LOGGED: (IN_REVIEW, ON_HOLD),
    IN_REVIEW: (APPROVED, DENIED, ON_HOLD),
    APPROVED: (FULFILLED, ON_HOLD),
    DENIED: (CLOSED,),
    FULFILLED: (CLOSED,),
    CLOSED: (),
}
NEEDS_REASON = {DENIED, ON_HOLD}
# 45 CFR 164.526: an accepted amendment is done once the amendment is filed and linked to the
# document. Fulfil would record a disclosure, and nothing was disclosed, so an amendment request
# leaves approved by closing instead. Only an amendment request: any other request must pass
# through fulfil, so that no release of records goes unaccounted for (45 CFR 164.528).
AMENDMENT_REQUEST = "amendment"
AMENDMENT_APPROVED_NEXT = {False: (ON_HOLD,), True: (CLOSED, ON_HOLD)}  # by "amendment filed"
# Still being worked on: an extension or a hold makes sense only while the request is open.
OPEN = {LOGGED, IN_REVIEW, APPROVED, ON_HOLD}


class TransitionRefused(Conflict):
    code = "transition_refused"


def allowed_next(status: str, held_from: str | None, request_type: str = "records",
                 amendment_filed: bool = False) -> tuple[str, ...]:
    """The statuses a request may move to next; ``amendment_filed`` says whether an amendment
    request's accepted amendment is filed (release.requests.next_statuses reads both off
    the request)."""
    if status == ON_HOLD:
        return (held_from,) if held_from else ()
    if status == APPROVED and request_type == AMENDMENT_REQUEST:
        return AMENDMENT_APPROVED_NEXT[amendment_filed]
    return NEXT[status]


def check_transition(status: str, held_from: str | None, target: str, reason: str,
                     request_type: str = "records", amendment_filed: bool = False) -> None:
    """Refuse a move the table does not allow (naming the allowed ones), or a denial or hold
    without a reason."""
    if target not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}, not {target!r}.")
    allowed = allowed_next(status, held_from, request_type, amendment_filed)
    if target not in allowed:
        nexts = ", ".join(allowed) if allowed else "none: the request is closed"
        raise TransitionRefused(
            f"A{'n amendment' if request_type == AMENDMENT_REQUEST else ''} request that is "
            f"{status} cannot become {target}; allowed next: {nexts}."
            + _amendment_hint(status, request_type, amendment_filed))
    if target in NEEDS_REASON and not reason.strip():
        raise BadRequest(f"reason is required to make a request {target}: it goes into the "
                         "letter to the requester and the audit trail.")


def _amendment_hint(status: str, request_type: str, amendment_filed: bool) -> str:
    """What to do when an approved amendment request is asked to move before it can."""
    if status != APPROVED or request_type != AMENDMENT_REQUEST:
        return ""
    if amendment_filed:
        return " An amendment request releases no records: close it."
    return " File the accepted amendment first; then the request can be closed."
