"""what checks learn (a camera's normal picture), and requests to forget it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Utc = monitor.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("check_state") as batch:
        batch.add_column(sa.Column("learned", sa.JSON(), nullable=False,
                                   server_default=sa.text("'{}'")))
    op.create_table(
        "forget_request",
        sa.Column("id", Id64, autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("check_name", sa.String(length=64), nullable=True),
        sa.Column("requested_at", Utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forget_request")),
    )


def downgrade() -> None:
    op.drop_table("forget_request")
    with op.batch_alter_table("check_state") as batch:
        batch.drop_column("learned")
