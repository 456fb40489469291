"""Search: the reconcile runs (index against database) and their findings, for admins.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconcile_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("documents_checked", sa.Integer(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("repaired", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reconcile_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconcile_runs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reconcile_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconcile_runs_status"))
    op.drop_table("reconcile_runs")
