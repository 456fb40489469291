"""Release of information: time-limited links that deliver a packet outside the hospital.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("packet_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_downloads", sa.Integer(), nullable=False),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("last_download_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=120), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["packet_id"], ["release_packets.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["release_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("release_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_links_request_id"), ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("release_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_links_request_id"))
    op.drop_table("release_links")
