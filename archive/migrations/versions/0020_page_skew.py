"""OCR: each page's measured scan skew, and whether it was straightened before reading.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 04:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Pages read before this revision were not measured: skew stays NULL, and they were
    # read as scanned (straightened false), which is exactly what happened to them.
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skew", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("straightened", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_column("straightened")
        batch_op.drop_column("skew")
