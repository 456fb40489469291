"""Fixtures for ingestion tests: a filed document whose version jobs can point at."""

from __future__ import annotations

import pytest

from archive.records.service import Upload, add_document
from tests.samples import pdf_bytes


@pytest.fixture
def filed(ext, people, patient, tmp_path):
    """File a one-page scan through the real service; returns its DocumentVersion."""

    def file(lines=("DISCHARGE SUMMARY",), mrn=None, doc_type="discharge_summary", data=None):
        path = tmp_path / f"scan-{len(list(tmp_path.iterdir()))}.pdf"
        path.write_bytes(data if data is not None else pdf_bytes(list(lines)))
        with path.open("rb") as stream:
            return add_document(ext, people.principal("clerk"), mrn=mrn or patient,
                                doc_type=doc_type, upload=Upload(stream, path.name)).version

    return file
