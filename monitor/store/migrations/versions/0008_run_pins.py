"""the pins of the node a daemon run was (a cluster's remote poller observes only its
sites: the report counts their time observed by its runs)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("daemon_run") as batch:
        batch.add_column(sa.Column("pins", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("daemon_run") as batch:
        batch.drop_column("pins")
