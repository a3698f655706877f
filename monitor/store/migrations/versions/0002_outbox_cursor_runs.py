"""the audit as the outbox's event log (data column, cursor) and the daemon's runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 09:00:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Utc = monitor.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("ticket_audit") as batch:
        batch.add_column(sa.Column("data", sa.JSON(), nullable=True))
    cursor = op.create_table(
        "outbox_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_audit_id", Id64, nullable=False),
        sa.Column("updated_at", Utc, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_outbox_cursor")),
    )
    # An upgraded store's history was notified the old way: start after it.
    bind = op.get_bind()
    last = bind.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM ticket_audit")).scalar_one()
    bind.execute(cursor.insert().values(name="notifier", last_audit_id=int(last),
                                        updated_at=dt.datetime.now(dt.UTC)))
    op.create_table(
        "daemon_run",
        sa.Column("id", Id64, autoincrement=True, nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", Utc, nullable=False),
        sa.Column("seen_at", Utc, nullable=False),
        sa.Column("stopped_at", Utc, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daemon_run")),
    )
    op.create_index(op.f("ix_daemon_run_started_at"), "daemon_run", ["started_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_daemon_run_started_at"), table_name="daemon_run")
    op.drop_table("daemon_run")
    op.drop_table("outbox_cursor")
    with op.batch_alter_table("ticket_audit") as batch:
        batch.drop_column("data")
