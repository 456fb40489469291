"""Release of information: amendments (45 CFR 164.526), the links from a document to the
amendment, denial letter, statement of disagreement and rebuttal filed about it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_amendment_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("linked_document_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["release_requests.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.ForeignKeyConstraint(["linked_document_id"], ["documents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "kind"),
    )
    with op.batch_alter_table("release_amendment_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_amendment_links_request_id"),
                              ["request_id"])
        batch_op.create_index(batch_op.f("ix_release_amendment_links_document_id"),
                              ["document_id"])
        batch_op.create_index(batch_op.f("ix_release_amendment_links_linked_document_id"),
                              ["linked_document_id"])


def downgrade() -> None:
    with op.batch_alter_table("release_amendment_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_amendment_links_linked_document_id"))
        batch_op.drop_index(batch_op.f("ix_release_amendment_links_document_id"))
        batch_op.drop_index(batch_op.f("ix_release_amendment_links_request_id"))
    op.drop_table("release_amendment_links")
