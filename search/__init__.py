"""Search and retrieval: the SearchIndex protocol, its Tantivy and Whoosh backends, the
indexer (outbox consumer), query parsing, highlights, access filtering and search views."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from archive.extensions import Archive

EXTENSION = "chartvault.search"


def init_app(app: Flask) -> None:
    """Plug search into the app (called through the chartvault.packages entry point)."""
    from archive.extensions import DocumentSection, NavLink, csrf
    from search import api, cli, views
    from search.home import IndexHome, OpenIndex

    ext: Archive = app.extensions["chartvault"]
    index = OpenIndex(IndexHome(ext.settings.data_dir / "index", ext.settings.search))
    app.extensions[EXTENSION] = index
    ext.navigation += [
        NavLink("search.search_page", "Search", "search.run",
                "Find any word on any scanned page.", "records"),
        NavLink("search.index_status", "Search index", "index.manage",
                "The index's state, and its reconcile with the database.", "administration"),
    ]
    ext.document_sections.append(
        DocumentSection("reading", _reading_section, "search/_read_pages.html", in_api=False)
    )
    ext.background_tasks.append(lambda stop: _run_indexer(ext, index, stop))
    cli.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # Bearer tokens, no cookies (as the core API)


def open_index_of(app: Flask | None = None):
    """This process's handle on the index in use (search.home.OpenIndex)."""
    return (app or current_app).extensions[EXTENSION]


def _reading_section(_session, document) -> dict:
    latest = document.latest_version
    return {"id": document.id, "pages": latest.page_count or 0}


def _run_indexer(ext: Archive, index, stop: threading.Event) -> None:
    from search.jobs import run_indexer

    run_indexer(ext, index, stop)
