"""Release of information: requests for records and the patients each concerns.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_type", sa.String(length=16), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=False),
        sa.Column("requester_kind", sa.String(length=32), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("requester_address", sa.Text(), nullable=False),
        sa.Column("requester_contact", sa.String(length=200), nullable=False),
        sa.Column("claim_number", sa.String(length=64), nullable=False),
        sa.Column("asked", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("received", sa.Date(), nullable=False),
        sa.Column("assignee", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("held_from", sa.String(length=16), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("notice_deadline", sa.Date(), nullable=False),
        sa.Column("extension_notice_sent", sa.Date(), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("release_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_requests_assignee"), ["assignee"])
        batch_op.create_index(batch_op.f("ix_release_requests_due"), ["due"])
        batch_op.create_index(batch_op.f("ix_release_requests_status"), ["status"])
    op.create_table(
        "release_request_patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["release_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "patient_id"),
    )
    with op.batch_alter_table("release_request_patients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_request_patients_patient_id"),
                              ["patient_id"])
        batch_op.create_index(batch_op.f("ix_release_request_patients_request_id"),
                              ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("release_request_patients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_request_patients_request_id"))
        batch_op.drop_index(batch_op.f("ix_release_request_patients_patient_id"))
    op.drop_table("release_request_patients")
    with op.batch_alter_table("release_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_requests_status"))
        batch_op.drop_index(batch_op.f("ix_release_requests_due"))
        batch_op.drop_index(batch_op.f("ix_release_requests_assignee"))
    op.drop_table("release_requests")
