"""Disposition: computed retention dates, batches and their items, tombstones of destroyed
documents; and the runs of scheduled jobs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 12:02:30.100026
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disposition_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("swept_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("approved_by", sa.String(length=120), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_by", sa.String(length=120), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("certificate_key", sa.String(length=255), nullable=True),
        sa.Column("certificate_version_id", sa.String(length=255), nullable=True),
        sa.Column("certificate_sha256", sa.String(length=64), nullable=True),
        sa.Column("certificate_size", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("disposition_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disposition_batches_status"), ["status"], unique=False)

    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_runs_job"), ["job"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_runs_started_at"), ["started_at"], unique=False)

    op.create_table(
        "disposition_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("disposition_date", sa.Date(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["disposition_batches.id"],
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["retention_policies.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_id", "document_id"),
    )
    with op.batch_alter_table("disposition_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disposition_items_batch_id"), ["batch_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_disposition_items_document_id"), ["document_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_disposition_items_status"), ["status"], unique=False)

    op.create_table(
        "retention_dates",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("disposition_date", sa.Date(), nullable=True),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("document_id"),
    )
    with op.batch_alter_table("retention_dates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_retention_dates_disposition_date"), ["disposition_date"], unique=False
        )

    op.create_table(
        "tombstones",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("document_uid", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("patient_mrn", sa.String(length=32), nullable=False),
        sa.Column("patient_name", sa.String(length=200), nullable=False),
        sa.Column("doc_type", sa.String(length=64), nullable=False),
        sa.Column("date_of_service", sa.Date(), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disposition_date", sa.Date(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("approved_by", sa.String(length=120), nullable=False),
        sa.Column("executed_by", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("method", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["disposition_batches.id"],
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["retention_policies.id"],
        ),
        sa.PrimaryKeyConstraint("document_id"),
    )
    with op.batch_alter_table("tombstones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tombstones_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_tombstones_patient_mrn"), ["patient_mrn"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tombstones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tombstones_patient_mrn"))
        batch_op.drop_index(batch_op.f("ix_tombstones_batch_id"))

    op.drop_table("tombstones")
    with op.batch_alter_table("retention_dates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_dates_disposition_date"))

    op.drop_table("retention_dates")
    with op.batch_alter_table("disposition_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disposition_items_status"))
        batch_op.drop_index(batch_op.f("ix_disposition_items_document_id"))
        batch_op.drop_index(batch_op.f("ix_disposition_items_batch_id"))

    op.drop_table("disposition_items")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_runs_started_at"))
        batch_op.drop_index(batch_op.f("ix_job_runs_job"))

    op.drop_table("job_runs")
    with op.batch_alter_table("disposition_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disposition_batches_status"))

    op.drop_table("disposition_batches")
