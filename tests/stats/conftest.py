"""The statistics' tests run in a hospital on Chicago time, with the fixture month filed."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.config import Settings
from tests.stats.month import Expected, fill_month, patient_id_of


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    timezone="America/Chicago")


@pytest.fixture
def month(ext, people, patient) -> Expected:
    with ext.db.transaction() as session:
        clerk = people.principal("clerk")
        return fill_month(session, patient_id_of(session, patient), clerk.user_id)
