"""Fixtures for the search tests: a fresh index of each backend in a temporary directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from search.backends import BACKENDS, open_index
from search.interfaces import SearchIndex
from tests.search.library import CARDIOLOGY, DISCHARGE, OPERATIVE, file_chart


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def open_search_index(backend: str, tmp_path: Path) -> Iterator[Callable[[], SearchIndex]]:
    """Opens another object on the same index directory (as another process would)."""
    opened: list[SearchIndex] = []

    def open_another() -> SearchIndex:
        index = open_index(backend, tmp_path / "index")
        opened.append(index)
        return index

    yield open_another
    for index in opened:
        index.close()


@pytest.fixture
def search_index(open_search_index: Callable[[], SearchIndex]) -> SearchIndex:
    """A fresh, empty index of each backend in turn."""
    return open_search_index()


@pytest.fixture
def library(app, ext, people, patient):
    """Three indexed charts of MRN-1001: discharge summary, operative report, cardiology."""
    clerk = people.principal("clerk")
    return {
        "discharge": file_chart(app, clerk, patient, DISCHARGE),
        "operative": file_chart(app, clerk, patient, OPERATIVE, doc_type="operative_report"),
        "cardiology": file_chart(app, clerk, patient, CARDIOLOGY, doc_type="consultation"),
    }
