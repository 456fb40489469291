"""The status workflow of a request, as one table of allowed moves:

    logged -> in_review -> approved | denied -> (approved) fulfilled -> closed; denied -> closed

and, from any open status, on_hold (waiting for payment or a valid authorization), which
returns only to the status it was put on hold from. A denial and a hold need a reason: the
denial letter and the queue show it.
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
# Still being worked on: an extension or a hold makes sense only while the request is open.
OPEN = {LOGGED, IN_REVIEW, APPROVED, ON_HOLD}


class TransitionRefused(Conflict):
    code = "transition_refused"


def allowed_next(status: str, held_from: str | None) -> tuple[str, ...]:
    if status == ON_HOLD:
        return (held_from,) if held_from else ()
    return NEXT[status]


def check_transition(status: str, held_from: str | None, target: str, reason: str) -> None:
    """Refuse a move the table does not allow (naming the allowed ones), or a denial or hold
    without a reason."""
    if target not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}, not {target!r}.")
    allowed = allowed_next(status, held_from)
    if target not in allowed:
        nexts = ", ".join(allowed) if allowed else "none: the request is closed"
        raise TransitionRefused(
            f"A request that is {status} cannot become {target}; allowed next: {nexts}.")
    if target in NEEDS_REASON and not reason.strip():
        raise BadRequest(f"reason is required to make a request {target}: it goes into the "
                         "letter to the requester and the audit trail.")
