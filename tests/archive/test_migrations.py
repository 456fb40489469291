"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from datetime import date

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, select
from sqlalchemy.exc import IntegrityError

import backup.models  # noqa: F401 - and the backup tables
import completion.models  # noqa: F401 - encounters, providers, HL7 messages
import ingest.batches.models  # noqa: F401 - the batch intake tables
import ingest.models  # noqa: F401 - registers the ingestion tables on the shared metadata
import release.amendment_models  # noqa: F401 - the amendments' links
import release.authorization_models  # noqa: F401 - the signed authorizations
import release.fee_models  # noqa: F401 - the invoices and payments
import release.link_models  # noqa: F401 - the time-limited links
import release.models  # noqa: F401 - and the release-of-information tables
import release.packet_models  # noqa: F401 - the packets
import retention.models  # noqa: F401 - and the retention tables
import search.models  # noqa: F401 - and the search tables
from archive import migrate
from archive.models import Base, Document, DocumentVersion, Patient, PatientScan


def test_migrated_schema_matches_the_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_downgrade_to_nothing_and_upgrade_again(database_url):
    engine = create_engine(database_url)
    config = migrate._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert not migrate.pending(engine)
    assert "jobs" in inspect(engine).get_table_names()
    engine.dispose()


def test_0011_names_the_first_document_of_each_patients_scan(database_url):
    """Uploads that raced before 0011 may have filed one scan twice for a patient: the first
    document becomes the answer for those bytes, the later one stays, and from then on the
    database refuses a second document for them."""
    engine = create_engine(database_url)
    config = migrate._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    with engine.begin() as connection:
        patients = {
            mrn: connection.execute(insert(Patient).values(
                mrn=mrn, name="DOE, JANE", dob=date(1970, 1, 2)).returning(Patient.id)).scalar()
            for mrn in ("MRN-1", "MRN-2")
        }

        def document(mrn: str, *shas: str) -> int:
            document_id = connection.execute(insert(Document).values(
                uid=f"{mrn}-{shas}", patient_id=patients[mrn], doc_type="discharge_summary",
            ).returning(Document.id)).scalar()
            for number, sha in enumerate(shas, 1):
                connection.execute(insert(DocumentVersion).values(
                    document_id=document_id, number=number, object_key=f"k{document_id}",
                    store_version_id=str(number), sha256=sha * 64, size=1,
                    media_type="application/pdf", created_by_name="tests"))
            return document_id

        first = document("MRN-1", "a")
        raced = document("MRN-1", "a", "b")  # the same scan again, then a version of its own
        elsewhere = document("MRN-2", "a")
        document("MRN-1", "b")  # a later document with bytes the raced one has
    migrate.upgrade(engine)
    with engine.connect() as connection:
        rows = set(connection.execute(
            select(PatientScan.patient_id, PatientScan.sha256, PatientScan.document_id)).all())
    assert rows == {(patients["MRN-1"], "a" * 64, first), (patients["MRN-1"], "b" * 64, raced),
                    (patients["MRN-2"], "a" * 64, elsewhere)}
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(PatientScan).values(
            patient_id=patients["MRN-1"], sha256="a" * 64, document_id=raced))
    engine.dispose()
