"""Chart completion, first increment: providers, encounters, the encounter of each document,
and the HL7 messages received.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 04:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("identifier"),
    )
    op.create_table(
        "encounters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("encounter_class", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("admit_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("discharge_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attending_id", sa.Integer(), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["attending_id"], ["providers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("encounters", schema=None) as batch_op:
        for column in ("patient_id", "admit_at", "discharge_at", "attending_id"):
            batch_op.create_index(batch_op.f(f"ix_encounters_{column}"), [column])
    op.create_table(
        "encounter_documents",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("encounter_id", sa.Integer(), nullable=False),
        sa.Column("matched_by", sa.String(length=32), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.ForeignKeyConstraint(["encounter_id"], ["encounters.id"]),
        sa.PrimaryKeyConstraint("document_id"),
    )
    with op.batch_alter_table("encounter_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_encounter_documents_encounter_id"), ["encounter_id"])
    op.create_table(
        "hl7_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("control_id", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("ack_code", sa.String(length=2), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender", "control_id"),
    )
    with op.batch_alter_table("hl7_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hl7_messages_received_at"), ["received_at"])


def downgrade() -> None:
    with op.batch_alter_table("hl7_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hl7_messages_received_at"))
    op.drop_table("hl7_messages")
    with op.batch_alter_table("encounter_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_encounter_documents_encounter_id"))
    op.drop_table("encounter_documents")
    with op.batch_alter_table("encounters", schema=None) as batch_op:
        for column in ("attending_id", "discharge_at", "admit_at", "patient_id"):
            batch_op.drop_index(batch_op.f(f"ix_encounters_{column}"))
    op.drop_table("encounters")
    op.drop_table("providers")
