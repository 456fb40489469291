"""Replication and scrub: the state of each stored object's copy in the replica store, and
what the integrity scrub found.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 12:36:18.480387
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("version_id", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("replica_version_id", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("replicated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "version_id"),
    )
    with op.batch_alter_table("object_copies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_object_copies_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_object_copies_checked_at"), ["checked_at"], unique=False
        )
    op.create_table(
        "scrub_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("version_id", sa.String(length=255), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("problem", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scrub_findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scrub_findings_found_at"), ["found_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_scrub_findings_outcome"), ["outcome"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scrub_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scrub_findings_outcome"))
        batch_op.drop_index(batch_op.f("ix_scrub_findings_found_at"))
    op.drop_table("scrub_findings")
    with op.batch_alter_table("object_copies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_object_copies_checked_at"))
    with op.batch_alter_table("object_copies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_object_copies_state"))

    op.drop_table("object_copies")
