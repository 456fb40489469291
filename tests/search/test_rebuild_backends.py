"""A rebuild answers exactly as the index it replaces, on each backend (the app configured
with CHARTVAULT_SEARCH=tantivy and =whoosh), with the real worker and outbox indexer."""

from __future__ import annotations

import pytest

from archive.config import Settings
from search import open_index_of
from search.backends import BACKENDS
from search.jobs import rebuild
from tests.search.library import found


@pytest.fixture(params=BACKENDS)
def settings(database_url, tmp_path, request) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, search=request.param)


def test_a_rebuild_answers_exactly_as_the_index_it_replaces(app, ext, people, library):
    queries = ["ceftriaxone", "cardio*", "pneumonia OR cholecystectomy", "blood -anesthesia",
               '"general anesthesia"', "regurgitaton~1"]
    assert open_index_of(app).home.backend == ext.settings.search
    before = {q: found(app, people, q) for q in queries}
    old = open_index_of(app).home.current_path()
    result = rebuild(ext, open_index_of(app))
    assert result.documents == 3
    assert open_index_of(app).home.current_path() != old
    assert {q: found(app, people, q) for q in queries} == before
    assert before["cardio*"] == [library["cardiology"]]
