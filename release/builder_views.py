"""The web packet builder (issue 18 items 2 and 6): choose documents or page ranges of the
request's patients, draw or type redaction boxes on the chosen pages' images, accept the
boxes of a searched term, build the packet through release.packets (as the API does), and
download it from the request page. Thin: read the form, call a service, render."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from archive.auth.guards import current_principal, requires
from archive.errors import BadRequest, Conflict
from archive.extensions import archive
from archive.records.downloads import verified_download
from release.builder import packet_choices, shown_redactions, term_proposals
from release.builder_form import BuilderState, read_form
from release.packets import build_packet, open_packet
from release.page_ranges import parse_pages
from release.requests import MANAGE, VIEW

bp = Blueprint("release_builder", __name__)


@bp.route("/requests/<int:request_id>/packet")
@requires(MANAGE)
def builder(request_id: int):
    return _builder_page(request_id, None)


@bp.route("/requests/<int:request_id>/packet", methods=["POST"])
@requires(MANAGE)
def build(request_id: int):
    try:
        state = read_form(request.form)
    except BadRequest as err:
        return _builder_page(request_id, BuilderState(), problem=err.message,
                             status=err.http_status)
    if state.action == "find":
        return _find_term(request_id, state)
    if state.action == "show":
        return _show(request_id, state)
    try:
        packet = _build(request_id, state)
    except (BadRequest, Conflict) as err:
        return _builder_page(request_id, state, problem=err.message, status=err.http_status)
    count = len(state.boxes)
    flash(f"Packet {packet.number} built: {packet.pages} pages, {count} "
          f"redaction{'s' if count != 1 else ''}.", "info")
    return redirect(url_for("release.request_page", request_id=request_id,
                            _anchor="packets-title"), code=303)


@bp.route("/requests/<int:request_id>/packet.pdf")
@requires(VIEW)
def packet_pdf(request_id: int):
    """The latest packet, for the web session (the API's download takes a token)."""
    row, chunks = open_packet(archive(), current_principal(), request_id)
    return verified_download(chunks, sha256=row.sha256, size=row.size,
                             media_type="application/pdf",
                             filename=f"request-{request_id}-packet-{row.number}.pdf")


def _show(request_id: int, state: BuilderState):
    """The chosen pages; a range that cannot be read is said at once, not only at the build."""
    try:
        state.chosen_pages()
    except BadRequest as err:
        return _builder_page(request_id, state, problem=err.message, status=err.http_status)
    return _builder_page(request_id, state)


def _build(request_id: int, state: BuilderState):
    ext = archive()
    with ext.db.transaction() as session:
        redactions = shown_redactions(session, state.boxes)
    return build_packet(ext, current_principal(), request_id, state.packet_documents(),
                        redactions)


def _find_term(request_id: int, state: BuilderState):
    if not state.documents:
        return _builder_page(request_id, state, status=400,
                             problem="Choose the documents to search first.")
    try:
        with archive().db.transaction() as session:
            proposals = term_proposals(session, current_principal(), request_id, state.term,
                                       state.chosen_pages())
    except BadRequest as err:
        return _builder_page(request_id, state, problem=err.message, status=err.http_status)
    found = len(proposals)
    notice = (f"“{state.term}” found {found} time{'s' if found != 1 else ''}: tick the boxes "
              "to black out." if found else f"“{state.term}” is not on the chosen pages.")
    return _builder_page(request_id, state, proposals=proposals, notice=notice)


def _builder_page(request_id: int, state: BuilderState | None, *, problem: str | None = None,
                  notice: str | None = None, proposals=(), status: int = 200):
    with archive().db.transaction() as session:
        row, choices = packet_choices(session, current_principal(), request_id)
        if state is None:
            # First visit: the documents the requester named, if any, are ticked already.
            asked = set((row.asked or {}).get("document_ids") or [])
            state = BuilderState(documents=[c.id for c in choices if c.id in asked])
        return render_template(
            "release/packet_builder.html", row=row, choices=choices, state=state,
            shown=_shown_pages(choices, state), proposals=proposals, problem=problem,
            notice=notice), status


def _shown_pages(choices, state: BuilderState):
    """The chosen documents with their chosen pages (all of them while the range cannot be
    read: the error says why, and the clerk still sees the document)."""
    shown = []
    for choice in choices:
        if choice.id not in state.documents:
            continue
        try:
            wanted = parse_pages(state.pages.get(choice.id, ""), "pages")
        except BadRequest:
            wanted = ()
        shown.append((choice, [page for page in choice.pages
                               if not wanted or page.number in wanted]))
    return shown
