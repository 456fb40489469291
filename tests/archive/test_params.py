"""Every number a route takes has a range: path ids, page numbers, id filters."""

from __future__ import annotations

import pytest

from archive.errors import BadRequest
from archive.params import MAX_ID, MAX_PAGE, page_number, whole_number


@pytest.mark.parametrize("path", [
    f"/api/v1/documents/{MAX_ID + 1}",
    "/api/v1/documents/99999999999999999999999999",
    "/api/v1/documents/0",
    "/api/v1/documents/1/versions/4294967296/original",
])
def test_a_path_id_outside_the_database_range_is_404_not_a_crash(client, people, path):
    response = client.get(path, headers=people.headers("staff"))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("query", ["page=0", f"page={MAX_PAGE + 1}", "page=x",
                                   "page=" + "1" * 5000, "document_id=" + "7" * 30])
def test_the_audit_log_refuses_out_of_range_numbers(client, people, query):
    response = client.get(f"/api/v1/audit?{query}", headers=people.headers("compliance"))
    assert response.status_code == 400


def test_whole_number_accepts_only_ascii_digits_in_range():
    assert whole_number(" 42 ", "n", low=1, high=100) == 42
    assert whole_number("", "n", low=1, high=100, default=7) == 7
    for bad in ("٤٢", "4.2", "-1", "101", "¹"):
        with pytest.raises(BadRequest, match="^n must"):
            whole_number(bad, "n", low=1, high=100)
    assert page_number({}) == 1
