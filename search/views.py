"""The search page. Thin: parse the request, call search.service, render."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from archive.auth.guards import current_principal, requires
from archive.auth.restricted import grant_in_force
from archive.errors import BadRequest
from archive.extensions import archive
from archive.params import optional_id
from search import open_index_of, reconcile
from search.highlight import snippet_html
from search.home import built_at
from search.indexer import outbox_backlog
from search.service import SearchRequest, search
from search.viewer import open_page

bp = Blueprint("search", __name__)


@bp.app_template_filter("snippet")
def _snippet(snippet):
    return snippet_html(snippet)


@bp.route("/search")
@requires("search.run")
def search_page():
    if not any(
        request.args.get(name) for name in ("q", "mrn", "type", "department", "icd", "from", "to")
    ):
        return render_template("search/results.html", asked=None, found=None, problem=None)
    try:
        asked = SearchRequest.from_args(request.args)
        found = search(archive(), open_index_of(), current_principal(), asked)
    except BadRequest as err:
        # A malformed query or filter: the form again, with the message beside it.
        return render_template(
            "search/results.html", asked=None, found=None, problem=err.message
        ), err.http_status
    # The arguments every page link keeps (the query and filters, not the page number).
    keep = {name: value for name, value in request.args.items() if name != "page" and value}
    return render_template("search/results.html", asked=asked, found=found, problem=None, keep=keep)


@bp.route("/documents/<int:document_id>/read")
@requires("document.read_work")
def read_document(document_id: int):
    viewed = open_page(
        archive(),
        open_index_of(),
        current_principal(),
        document_id,
        version_number=optional_id(request.args.get("version"), "version"),
        page_number=optional_id(request.args.get("page"), "page"),
        q=(request.args.get("q") or "").strip(),
    )
    with archive().db.transaction() as session:
        # A chart opened by breaking the glass says until when, and why (as the record pages).
        emergency_access = grant_in_force(session, current_principal(), viewed.document.patient)
    return render_template(
        "search/viewer.html", viewed=viewed, emergency_access=emergency_access
    )


@bp.route("/admin/index")
@requires("index.manage")
def index_status():
    index = open_index_of()
    current = index.home.current_path()
    return render_template(
        "search/admin.html",
        backend=index.home.backend,
        generation=current.name if current else None,
        built_at=built_at(current),
        rebuild_reason=index.home.rebuild_reason(),
        backlog=outbox_backlog(archive().db),
        runs=reconcile.recent_runs(archive(), current_principal()),
    )


@bp.route("/admin/index/reconcile", methods=["POST"])
@requires("index.manage")
def request_reconcile():
    reconcile.request_run(archive(), current_principal())
    flash("Reconcile requested: the indexer starts it within a few seconds.", "info")
    return redirect(url_for("search.index_status"), code=303)
