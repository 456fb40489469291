"""Choosing a search index backend. Backends are imported only when chosen, so a process
that uses Tantivy never loads Whoosh."""

from __future__ import annotations

from pathlib import Path

from archive.errors import ArchiveError
from search.interfaces import SearchIndex

BACKENDS = ("tantivy", "whoosh")


def index_class(kind: str) -> type[SearchIndex]:
    """The backend class ``CHARTVAULT_SEARCH`` names (its SCHEMA_VERSION tells whether an
    existing index was built by it)."""
    if kind == "tantivy":
        from search.tantivy_index import TantivyIndex

        return TantivyIndex
    if kind == "whoosh":
        from search.whoosh_index import WhooshIndex

        return WhooshIndex
    valid = " or ".join(repr(name) for name in BACKENDS)
    raise ArchiveError(f"Unknown CHARTVAULT_SEARCH={kind!r}; use {valid}.")


def open_index(kind: str, path: Path) -> SearchIndex:
    """The index in the directory ``path``, of the backend ``CHARTVAULT_SEARCH`` names."""
    return index_class(kind)(path)
