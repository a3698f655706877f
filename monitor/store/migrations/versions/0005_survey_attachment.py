"""the customers' satisfaction surveys; scanned paper records attached to tickets; a
ticket's title in each language

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.tables

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Utc = monitor.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("titles", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "survey",
        sa.Column("id", Id64, autoincrement=True, nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("respondent", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("comments", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", Utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey")),
        sa.UniqueConstraint("customer", "period", "respondent",
                            name=op.f("uq_survey_customer_period_respondent")),
    )
    op.create_table(
        "attachment",
        sa.Column("id", Id64, autoincrement=True, nullable=False),
        sa.Column("ticket_id", Id64, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", Utc, nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="CASCADE",
                                name=op.f("fk_attachment_ticket_id_ticket")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
    )
    op.create_index(op.f("ix_attachment_ticket_id"), "attachment", ["ticket_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_attachment_ticket_id"), table_name="attachment")
    op.drop_table("attachment")
    op.drop_table("survey")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("titles")
