"""the nodes of a cluster with their heartbeats; how far each remote poller's batches
are applied; check states indexed by state

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.tables

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Utc = monitor.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cluster_node",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("pins", sa.JSON(), nullable=False),
        sa.Column("started_at", Utc, nullable=False),
        sa.Column("heartbeat_at", Utc, nullable=False),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_node")),
    )
    op.create_table(
        "cluster_applied",
        sa.Column("node", sa.String(length=128), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("applied_at", Utc, nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_cluster_applied")),
    )
    with op.batch_alter_table("check_state") as batch_op:
        batch_op.create_index(batch_op.f("ix_check_state_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("check_state") as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_state_state"))
    op.drop_table("cluster_applied")
    op.drop_table("cluster_node")
