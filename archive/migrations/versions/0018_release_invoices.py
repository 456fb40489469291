"""Release of information: the invoice of a request and the payments received against it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("bill_to_name", sa.String(length=200), nullable=False),
        sa.Column("bill_to_address", sa.Text(), nullable=False),
        sa.Column("requester_kind", sa.String(length=32), nullable=False),
        sa.Column("legal_basis", sa.String(length=32), nullable=False),
        sa.Column("medium", sa.String(length=16), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("packet_id", sa.Integer(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("holds_request", sa.Boolean(), nullable=False),
        sa.Column("waived_on", sa.Date(), nullable=True),
        sa.Column("waived_by", sa.String(length=120), nullable=True),
        sa.Column("waive_reason", sa.Text(), nullable=False),
        sa.Column("issued_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["packet_id"], ["release_packets.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["release_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("request_id"),
    )
    op.create_table(
        "release_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["invoice_id"], ["release_invoices.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("release_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_payments_invoice_id"), ["invoice_id"])


def downgrade() -> None:
    with op.batch_alter_table("release_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_payments_invoice_id"))
    op.drop_table("release_payments")
    op.drop_table("release_invoices")
