"""Break the glass: time-limited grants to open a restricted patient's chart, each with
its reason and, once compliance has looked at it, its review.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 09:12:44.120418
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=80), nullable=True),
        sa.Column("review_comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_grants_granted_at"), ["granted_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_access_grants_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_access_grants_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("access_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_grants_user_id"))
        batch_op.drop_index(batch_op.f("ix_access_grants_patient_id"))
        batch_op.drop_index(batch_op.f("ix_access_grants_granted_at"))

    op.drop_table("access_grants")
