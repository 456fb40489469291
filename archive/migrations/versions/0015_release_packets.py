"""Release of information: the packets built for requests, each a stored object.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 01:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_packets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=False),
        sa.Column("store_version_id", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("contents", sa.JSON(), nullable=False),
        sa.Column("redactions", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["release_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("release_packets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_packets_object_key"), ["object_key"])
        batch_op.create_index(batch_op.f("ix_release_packets_request_id"), ["request_id"])


def downgrade() -> None:
    with op.batch_alter_table("release_packets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_packets_request_id"))
        batch_op.drop_index(batch_op.f("ix_release_packets_object_key"))
    op.drop_table("release_packets")
