"""Index the moments the department's figures count by (stats.figures): when each version and
derivative was stored, when each OCR run finished, when each QC flag was raised and reviewed,
and when each request was received. Each figure joins its rows to a table of local days or
months by these columns; without an index every day of the period read the whole table.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 04:20:00.000000
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

INDEXED = [("document_versions", "created_at"), ("derivatives", "created_at"),
           ("jobs", "finished_at"), ("qc_flags", "created_at"), ("qc_flags", "reviewed_at"),
           ("release_requests", "received")]


def upgrade() -> None:
    for table, column in INDEXED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def downgrade() -> None:
    for table, column in reversed(INDEXED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
