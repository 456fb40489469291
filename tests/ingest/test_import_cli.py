"""`chartvault import`: bulk filing from disk with a progress bar and a summary."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from archive.cli import cli
from archive.models import Document
from ingest.models import Job
from tests.samples import pdf_bytes, png_bytes


def test_import_files_and_folders_summarises_every_outcome(database_url, patient, tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("CHARTVAULT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", database_url)
    batch = tmp_path / "batch"
    batch.mkdir()
    first = pdf_bytes(["FIRST"])  # Pillow stamps the time into a PDF: made once, written twice
    (batch / "a.pdf").write_bytes(first)
    (batch / "b.png").write_bytes(png_bytes(["SECOND"]))
    (batch / "empty.pdf").write_bytes(b"")
    (tmp_path / "again.pdf").write_bytes(first)  # same bytes as a.pdf

    result = CliRunner().invoke(cli, ["import", str(batch), str(tmp_path / "again.pdf"),
                                      "--mrn", patient, "--type", "progress_note"])
    assert result.exit_code == 1  # something was rejected: a script must notice
    assert "Accepted 2, duplicates 1, rejected 1." in result.output
    assert "empty.pdf" in result.output and "empty" in result.output
    assert "already filed as document" in result.output
    engine = create_engine(database_url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 2
        assert session.scalar(select(func.count()).select_from(Job)) == 2
    engine.dispose()


def test_import_for_an_unknown_patient_rejects_every_file(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTVAULT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", database_url)
    (tmp_path / "a.pdf").write_bytes(pdf_bytes())
    result = CliRunner().invoke(cli, ["import", str(tmp_path / "a.pdf"), "--mrn", "MRN-404",
                                      "--type", "note"])
    assert result.exit_code == 1
    assert "rejected 1" in result.output and "Register the patient first" in result.output
