"""Release of information: the disclosures a fulfilled request made, for the accounting.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 02:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_disclosures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("disclosed_on", sa.Date(), nullable=False),
        sa.Column("recipient_name", sa.String(length=200), nullable=False),
        sa.Column("recipient_address", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=False),
        sa.Column("exempt", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["release_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("release_disclosures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_disclosures_disclosed_on"),
                              ["disclosed_on"])
        batch_op.create_index(batch_op.f("ix_release_disclosures_patient_id"), ["patient_id"])
        batch_op.create_index(batch_op.f("ix_release_disclosures_request_id"), ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("release_disclosures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_disclosures_request_id"))
        batch_op.drop_index(batch_op.f("ix_release_disclosures_patient_id"))
        batch_op.drop_index(batch_op.f("ix_release_disclosures_disclosed_on"))
    op.drop_table("release_disclosures")
