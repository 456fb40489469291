"""Release of information: signed authorizations, each a filed document linked to a request
with its expiry and any revocation.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_authorizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("attached_by", sa.String(length=120), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=False),
        sa.Column("revoked_by", sa.String(length=120), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["release_requests.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("release_authorizations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_authorizations_request_id"), ["request_id"])
        batch_op.create_index(batch_op.f("ix_release_authorizations_document_id"),
                              ["document_id"])


def downgrade() -> None:
    with op.batch_alter_table("release_authorizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_authorizations_document_id"))
        batch_op.drop_index(batch_op.f("ix_release_authorizations_request_id"))
    op.drop_table("release_authorizations")
