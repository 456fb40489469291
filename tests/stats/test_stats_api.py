"""The figures of /api/v1/stats against the fixture month (tests/stats/month.py), whose
expected values are computed in Python, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from stats.periods import Period
from tests.conftest import login
from tests.stats.month import (
    FIRST,
    LAST,
    LATE_EVENING,
    ZONE,
    add_document_row,
    add_version_row,
    nearest_rank,
    patient_id_of,
)

MARCH = {"from": FIRST.isoformat(), "to": LAST.isoformat()}


def get(client, people, figure: str, role: str = "compliance", **query):
    return client.get(f"/api/v1/stats/{figure}", query_string=query or MARCH,
                      headers=people.headers(role))


def test_filing_counts_documents_and_pages_per_local_day(client, people, month):
    answer = get(client, people, "filing")
    assert answer.status_code == 200
    assert (answer.json["from"], answer.json["to"], answer.json["timezone"]) == (
        "2026-03-01", "2026-03-31", "America/Chicago")
    days = answer.json["days"]
    assert [day["date"] for day in days] == [f"2026-03-{n:02d}" for n in range(1, 32)]
    assert {day["date"]: day["documents"] for day in days if day["documents"]} == dict(
        month.documents)
    assert {day["date"]: day["pages"] for day in days if day["pages"]} == dict(month.pages)
    assert any(day["documents"] == 0 and day["pages"] == 0 for day in days)  # zeros shown


def test_a_scan_filed_late_in_the_evening_counts_on_that_local_day(client, people, month):
    assert LATE_EVENING.isoformat() == "2026-03-10T23:30:00-05:00"  # 04:30 UTC on the 11th
    tenth = get(client, people, "filing", **{"from": "2026-03-10", "to": "2026-03-10"})
    eleventh = get(client, people, "filing", **{"from": "2026-03-11", "to": "2026-03-11"})
    assert tenth.json["days"][0]["documents"] == month.documents["2026-03-10"] >= 1
    assert eleventh.json["days"][0]["documents"] == month.documents["2026-03-11"]


def test_ocr_backlog_and_time_to_ready_percentiles(client, people, month):
    answer = get(client, people, "ocr").json
    assert answer["backlog"]["jobs"] == 2
    assert answer["backlog"]["oldest_seconds"] > 0
    every = [seconds for values in month.ready_seconds.values() for seconds in values]
    assert answer["time_to_ready"] == {"ready": len(every),
                                       "median_seconds": nearest_rank(every, 50),
                                       "p95_seconds": nearest_rank(every, 95)}
    for day in answer["days"]:
        seconds = month.ready_seconds.get(day["date"], [])
        assert (day["ready"], day["median_seconds"], day["p95_seconds"]) == (
            len(seconds), nearest_rank(seconds, 50), nearest_rank(seconds, 95)), day["date"]


def test_qc_flags_raised_and_resolved_per_kind(client, people, month):
    kinds = get(client, people, "qc").json["kinds"]
    assert {row["kind"]: [row["raised"], row["resolved"]] for row in kinds} == {
        kind: counts for kind, counts in month.qc.items() if any(counts)}


def test_requests_volume_turnaround_and_overdue(client, people, month):
    answer = get(client, people, "requests").json
    assert answer["summary"] == {
        "received": month.received, "fulfilled": month.fulfilled,
        "median_turnaround_days": nearest_rank(month.turnaround_days, 50),
        "overdue_now": month.overdue}
    assert answer["months"] == [{"month": "2026-03", "received": month.received,
                                 "fulfilled": month.fulfilled,
                                 "median_turnaround_days": nearest_rank(month.turnaround_days,
                                                                        50)}]


def test_storage_now_and_added_per_month(client, people, month):
    answer = get(client, people, "storage", **{"from": "2026-02-15", "to": LAST.isoformat()})
    march = next(row for row in answer.json["months"] if row["month"] == "2026-03")
    assert march["bytes_added"] == month.bytes_added
    assert [row["month"] for row in answer.json["months"]] == ["2026-02", "2026-03"]
    assert answer.json["bytes_now"] >= sum(row["bytes_added"] for row in answer.json["months"])


@pytest.mark.parametrize(("role", "status"), [("clerk", 403), ("staff", 403),
                                              ("compliance", 200), ("admin", 200)])
def test_only_managers_read_the_figures(client, people, role, status):
    for figure in ("filing", "ocr", "qc", "requests", "storage"):
        assert get(client, people, figure, role=role).status_code == status, figure


def test_without_a_token_the_figures_are_refused(client, people):
    assert client.get("/api/v1/stats/filing").status_code == 401


@pytest.mark.parametrize(("query", "words"), [
    ({"from": "2026-03-31", "to": "2026-03-01"}, "is after to"),
    ({"from": "2020-01-01", "to": "2026-03-01"}, "longer than 731 days"),
    ({"from": "2026-02-30"}, "from must be a date"),
    ({"since": "2026-01-01"}, "since"),
])
def test_a_bad_period_is_a_400_that_says_what_to_change(client, people, query, words):
    answer = get(client, people, "filing", **query)
    assert answer.status_code == 400
    assert words in answer.json["error"]["message"]


def test_the_default_period_is_the_last_thirty_days(client, people):
    days = get(client, people, "filing", to="2026-03-31").json["days"]
    assert (len(days), days[0]["date"]) == (30, "2026-03-02")


def test_figures_are_cached_per_query_for_a_short_time(client, people, filed, month):
    today = datetime.now(ZONE).date().isoformat()  # the hospital's today, not the machine's
    week = {"from": (datetime.now(ZONE).date() - timedelta(days=6)).isoformat(), "to": today}
    before = get(client, people, "filing", **week).json
    filed()  # a real scan through the filing service, filed now
    assert get(client, people, "filing", **week).json == before  # the same query: cached
    # Another query is computed afresh and counts the scan (its pages once OCR has read it).
    after = get(client, people, "filing", **{"from": today, "to": today}).json["days"]
    assert after[0]["documents"] == before["days"][-1]["documents"] + 1


def test_the_csv_of_a_figure_is_exactly_its_table(client, people, month):
    login(client, "compliance1")
    data = client.get("/dashboard/filing.csv", query_string=MARCH)
    assert data.status_code == 200
    assert data.headers["Content-Disposition"] == (
        'attachment; filename="filing-2026-03-01-2026-03-31.csv"')
    rows = list(csv.reader(io.StringIO(data.get_data(as_text=True))))
    api = get(client, people, "filing").json["days"]
    assert rows[0] == ["date", "documents", "pages"]
    assert rows[1:] == [[day["date"], str(day["documents"]), str(day["pages"])] for day in api]
    assert sum(int(row[1]) for row in rows[1:]) == sum(month.documents.values())


def test_a_csv_cell_a_spreadsheet_would_run_is_defused(client, people, month):
    login(client, "compliance1")
    rows = list(csv.reader(io.StringIO(client.get(
        "/dashboard/qc.csv", query_string=MARCH).get_data(as_text=True))))
    kinds = [row[0] for row in rows[1:]]
    assert "'=formula_kind" in kinds and "=formula_kind" not in kinds
    expected = month.qc["=formula_kind"]
    assert next(row[1:] for row in rows if row[0] == "'=formula_kind") == [str(n) for n in expected]


def test_days_follow_the_zone_when_daylight_saving_time_ends(client, ext, people, patient):
    # Chicago falls back at 07:00 UTC on 2026-11-01: 05:30 UTC on the 2nd is 23:30 on the 1st.
    moments = [datetime(2026, 11, 1, 4, 59, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
               datetime(2026, 11, 1, 7, 30, tzinfo=UTC), datetime(2026, 11, 2, 5, 30, tzinfo=UTC),
               datetime(2026, 11, 2, 6, 0, tzinfo=UTC)]
    with ext.db.transaction() as session:
        patient_id = patient_id_of(session, patient)
        for number, moment in enumerate(moments):
            document = add_document_row(session, f"dst{number}", patient_id, None, moment)
            add_version_row(session, document, 1, moment, 2, 100)
    days = get(client, people, "filing", **{"from": "2026-10-31", "to": "2026-11-02"}).json
    assert [(day["date"], day["documents"]) for day in days["days"]] == [
        ("2026-10-31", 1), ("2026-11-01", 3), ("2026-11-02", 1)]
    assert [moment.astimezone(ZONE).date().isoformat() for moment in moments] == [
        "2026-10-31", "2026-11-01", "2026-11-01", "2026-11-01", "2026-11-02"]


def test_a_period_knows_the_instant_its_zone_changes_offset():
    first, changes = Period(date(2026, 3, 1), date(2026, 3, 31), ZONE).offsets()
    assert (first, changes) == (-6 * 3600, [(datetime(2026, 3, 8, 8, 0, tzinfo=UTC), -5 * 3600)])
    assert Period(date(2026, 6, 1), date(2026, 6, 30), ZONE).offsets() == (-5 * 3600, [])
