"""`chartvault encounters import FILE.csv`, on both databases: a good file loads, a run
again updates instead of doubling, and a file with a bad line imports nothing and names
the line."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from archive.models import AuditEvent
from completion.cli import encounters_import
from completion.models import Encounter, Provider

HEADER = "number,mrn,class,admit,discharge,attending,department,attending_name\n"
GOOD = (HEADER
        + "V-100,MRN-1001,inpatient,2026-10-01T08:00,2026-10-05T16:30,NPI-1,MED,\"HOUSE, GREG\"\n"
        + "V-101,MRN-1001,day surgery,2026-10-20 07:15,,NPI-2,SURG,\n"
        + "V-102,MRN-1001,emergency,2026-10-22T23:40+02:00,2026-10-23,,ED,\n")


def _import(app, tmp_path, text: str):
    path = tmp_path / "encounters.csv"
    path.write_text(text, encoding="utf-8")
    return app.test_cli_runner().invoke(encounters_import, [str(path)])


def _encounters(ext) -> dict[str, Encounter]:
    with ext.db.transaction() as session:
        found = {e.number: e for e in session.scalars(select(Encounter))}
        session.expunge_all()
        return found


def test_a_good_file_loads_every_line(app, ext, patient, tmp_path):
    result = _import(app, tmp_path, GOOD)
    assert result.exit_code == 0, result.output
    assert "Imported 3 encounters: 3 new, 0 updated." in result.output
    found = _encounters(ext)
    assert found["V-100"].discharge_at == datetime(2026, 10, 5, 16, 30, tzinfo=UTC)
    assert found["V-100"].status == "discharged"
    assert found["V-101"].encounter_class == "day_surgery"
    assert found["V-101"].discharge_at is None
    assert found["V-102"].admit_at == datetime(2026, 10, 22, 21, 40, tzinfo=UTC)  # +02:00
    with ext.db.transaction() as session:
        assert session.scalar(select(Provider.name).where(Provider.identifier == "NPI-1")) == (
            "HOUSE, GREG")
        assert session.scalar(select(AuditEvent.details).where(
            AuditEvent.action == "encounter.import")) == {
            "file": "encounters.csv", "created": 3, "updated": 0}


def test_importing_again_updates_instead_of_doubling(app, ext, patient, tmp_path):
    _import(app, tmp_path, GOOD)
    again = _import(app, tmp_path, GOOD.replace("NPI-2,SURG", "NPI-2,ORTHO"))
    assert "0 new, 3 updated" in again.output
    found = _encounters(ext)
    assert len(found) == 3 and found["V-101"].department == "ORTHO"


def test_a_file_with_bad_lines_imports_nothing_and_names_each_line(app, ext, patient,
                                                                   tmp_path):
    bad = (GOOD
           + "V-103,MRN-404,inpatient,2026-10-01T08:00,,,MED,\n"
           + "V-104,MRN-1001,ward,2026-10-01T08:00,,,MED,\n"
           + "V-105,MRN-1001,inpatient,2026-10-09T08:00,2026-10-01T08:00,,MED,\n"
           + "V-106,MRN-1001,inpatient,yesterday,,,MED,\n"
           + "V-100,MRN-1001,inpatient,2026-10-01T08:00,,,MED,\n")
    result = _import(app, tmp_path, bad)
    assert result.exit_code != 0
    assert "Nothing was imported: 5 bad line(s)" in result.output
    assert "line 5: MRN MRN-404 is not registered" in result.output
    assert "line 6: Class 'ward' is not one of" in result.output
    assert "line 7: The discharge is before the admission." in result.output
    assert "line 8: The admit time 'yesterday' is not ISO 8601" in result.output
    assert "line 9: Encounter V-100 is on an earlier line too." in result.output
    assert _encounters(ext) == {}  # the good lines before them are not kept either


def test_a_file_without_the_columns_is_refused_by_name(app, ext, patient, tmp_path):
    result = _import(app, tmp_path, "number,mrn\nV-1,MRN-1001\n")
    assert result.exit_code != 0 and "lacks the column(s) class, admit" in result.output


def test_a_file_that_is_not_utf8_is_refused_saying_so(app, ext, patient, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(GOOD.replace("HOUSE", "HÔUSE").encode("latin-1"))
    result = app.test_cli_runner().invoke(encounters_import, [str(path)])
    assert result.exit_code != 0 and "not UTF-8" in result.output
    assert _encounters(ext) == {}
