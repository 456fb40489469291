"""One document per scan and patient, enforced by the database: ``patient_scans`` names, for
each patient and SHA-256, the document an upload of those bytes is answered with; its
primary key (patient_id, sha256) is what two concurrent uploads of one file collide on
(archive.records.scans).

Filled from the existing versions: for each patient and SHA-256, the document of the first
version (lowest id) that has the bytes, which is the document the duplicate check answered
with before. Uploads that raced before this revision may have filed the same bytes more than
once for a patient: the first document keeps the row, and the later ones stay as they are
(a record is never deleted by a migration; those are for a person to review), no longer the
answer to an upload.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_scans",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.PrimaryKeyConstraint("patient_id", "sha256"),
    )
    with op.batch_alter_table("patient_scans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_scans_document_id"), ["document_id"], unique=False
        )
    op.execute(
        """
        INSERT INTO patient_scans (patient_id, sha256, document_id)
        SELECT d.patient_id, v.sha256, v.document_id
        FROM document_versions v JOIN documents d ON d.id = v.document_id
        WHERE v.id = (
            SELECT MIN(v2.id)
            FROM document_versions v2 JOIN documents d2 ON d2.id = v2.document_id
            WHERE d2.patient_id = d.patient_id AND v2.sha256 = v.sha256
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("patient_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_scans_document_id"))
    op.drop_table("patient_scans")
