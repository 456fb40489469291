"""Disposition batches need two approvals, by two different compliance officers: the second
approver on the batch and on each tombstone.

A batch approved by one officer before this upgrade was ready to be executed; it now waits
for its second approval ("approved_once"), so no batch is destroyed on one approval.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 18:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("disposition_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("second_approved_by", sa.String(length=120), nullable=True))
        batch_op.add_column(
            sa.Column("second_approved_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("tombstones", schema=None) as batch_op:
        batch_op.add_column(sa.Column("second_approved_by", sa.String(length=120), nullable=True))
    op.execute("UPDATE disposition_batches SET status = 'approved_once' WHERE status = 'approved'")


def downgrade() -> None:
    # The old code executes any "approved" batch: a half-approved one goes back to review
    # rather than to "approved", so a downgrade never arms a batch on one approval.
    op.execute(
        "UPDATE disposition_batches SET status = 'review', approved_by = NULL, "
        "approved_at = NULL WHERE status = 'approved_once'"
    )
    with op.batch_alter_table("tombstones", schema=None) as batch_op:
        batch_op.drop_column("second_approved_by")
    with op.batch_alter_table("disposition_batches", schema=None) as batch_op:
        batch_op.drop_column("second_approved_at")
        batch_op.drop_column("second_approved_by")
