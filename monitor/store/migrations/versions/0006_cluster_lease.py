"""the leader's lease of a cluster of daemons, with its fencing epoch

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 14:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.tables

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Utc = monitor.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cluster_lease",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", Utc, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cluster_lease")),
    )


def downgrade() -> None:
    op.drop_table("cluster_lease")
