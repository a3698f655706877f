"""initial schema: check state, state changes, tickets, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-30 02:14:00.917432
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "check_state",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("check_name", sa.String(length=64), nullable=False),
        sa.Column("probe_kind", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("device_kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", monitor.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("streak_state", sa.String(length=16), nullable=True),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("last_reason", sa.String(length=64), nullable=True),
        sa.Column("last_detail", sa.Text(), nullable=True),
        sa.Column("last_latency_s", sa.Float(), nullable=True),
        sa.Column("last_values", sa.JSON(), nullable=False),
        sa.Column("last_run_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "check_name", name=op.f("pk_check_state")),
    )
    op.create_table(
        "state_change",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", monitor.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("check_name", sa.String(length=64), nullable=False),
        sa.Column("probe_kind", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("device_kind", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("old_state", sa.String(length=16), nullable=True),
        sa.Column("new_state", sa.String(length=16), nullable=True),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state_change")),
    )
    with op.batch_alter_table("state_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_state_change_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_state_change_device_id_check_name_at"),
            ["device_id", "check_name", "at"],
            unique=False,
        )

    op.create_table(
        "ticket",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("fault_key", sa.String(length=200), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("opened_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "acknowledged_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("solution_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("onsite_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("engineer", sa.String(length=64), nullable=True),
        sa.Column("actions_taken", sa.Text(), nullable=False),
        sa.Column("parts_replaced", sa.Text(), nullable=False),
        sa.Column("customer_confirmation", sa.Text(), nullable=True),
        sa.Column("deadlines", sa.JSON(), nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("updated_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket")),
        sa.UniqueConstraint("number", name=op.f("uq_ticket_number")),
    )
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_fault_key_resolved_at"),
            ["fault_key", "resolved_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_ticket_state_level"), ["state", "level"], unique=False)
        batch_op.create_index(
            "uq_ticket_active_fault",
            ["fault_key"],
            unique=True,
            sqlite_where=sa.text("state IN ('open', 'acknowledged', 'onsite')"),
            postgresql_where=sa.text("state IN ('open', 'acknowledged', 'onsite')"),
        )

    op.create_table(
        "notification_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "next_attempt_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", monitor.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_notification_outbox_ticket_id_ticket"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notification_outbox_idempotency_key")),
    )
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_outbox_sent_at_next_attempt_at"),
            ["sent_at", "next_attempt_at"],
            unique=False,
        )

    op.create_table(
        "ticket_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", monitor.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
            name=op.f("fk_ticket_audit_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_audit")),
    )
    with op.batch_alter_table("ticket_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_audit_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("ticket_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_audit_ticket_id"))

    op.drop_table("ticket_audit")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_outbox_sent_at_next_attempt_at"))

    op.drop_table("notification_outbox")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_ticket_active_fault",
            sqlite_where=sa.text("state IN ('open', 'acknowledged', 'onsite')"),
            postgresql_where=sa.text("state IN ('open', 'acknowledged', 'onsite')"),
        )
        batch_op.drop_index(batch_op.f("ix_ticket_state_level"))
        batch_op.drop_index(batch_op.f("ix_ticket_fault_key_resolved_at"))

    op.drop_table("ticket")
    with op.batch_alter_table("state_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_state_change_device_id_check_name_at"))
        batch_op.drop_index(batch_op.f("ix_state_change_at"))

    op.drop_table("state_change")
    op.drop_table("check_state")
