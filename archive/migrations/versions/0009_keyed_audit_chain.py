"""Keyed audit chain: each audit event records how its hash was made, so the events
chained with plain SHA-256 before this revision keep their hashes (re-chaining them would
launder them) and the chain continues with HMAC-SHA256 under the audit key.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:05:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        # Every event already written is a plain-SHA-256 one.
        batch_op.add_column(
            sa.Column("mac", sa.String(length=16), server_default="sha256", nullable=False)
        )


def downgrade() -> None:
    # Keyed events cannot be told apart from plain ones without this column: a downgraded
    # installation's `chartvault audit verify` reports the first keyed event as changed.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("mac")
