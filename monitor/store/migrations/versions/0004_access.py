"""the service desk's users, sessions, API tokens and access audit; the spare parts
log; inspections (monthly, weekly routine, patrols)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import monitor.store.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Utc = monitor.store.tables.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", Id64, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("customer", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", Utc, nullable=False),
        sa.Column("password_changed_at", Utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("name", name=op.f("uq_app_user_name")),
    )
    op.create_table(
        "web_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", Id64, nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", Utc, nullable=False),
        sa.Column("seen_at", Utc, nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], ondelete="CASCADE",
                                name=op.f("fk_web_session_user_id_app_user")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_session")),
    )
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"])
    op.create_table(
        "api_token",
        sa.Column("id", Id64, autoincrement=True, nullable=False),
        sa.Column("user_id", Id64, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", Utc, nullable=False),
        sa.Column("last_used_at", Utc, nullable=True),
        sa.Column("revoked_at", Utc, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], ondelete="CASCADE",
                                name=op.f("fk_api_token_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"])
    op.create_table(
        "access_audit",
        sa.Column("id", Id64, autoincrement=True, nullable=False),
        sa.Column("at", Utc, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_audit")),
    )
    op.create_index(op.f("ix_access_audit_subject_at"), "access_audit", ["subject", "at"])
    op.create_index(op.f("ix_access_audit_ip_at"), "access_audit", ["ip", "at"])
    op.create_table(
        "spare_part",
        sa.Column("id", Id64, autoincrement=True, nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=128), nullable=False),
        sa.Column("updated_at", Utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spare_part")),
        sa.UniqueConstraint("serial", name=op.f("uq_spare_part_serial")),
    )
    op.create_table(
        "part_movement",
        sa.Column("id", Id64, autoincrement=True, nullable=False),
        sa.Column("part_id", Id64, nullable=False),
        sa.Column("at", Utc, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_location", sa.String(length=128), nullable=False),
        sa.Column("to_location", sa.String(length=128), nullable=False),
        sa.Column("ticket_id", Id64, nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["part_id"], ["spare_part.id"], ondelete="CASCADE",
                                name=op.f("fk_part_movement_part_id_spare_part")),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="SET NULL",
                                name=op.f("fk_part_movement_ticket_id_ticket")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_part_movement")),
    )
    op.create_index(op.f("ix_part_movement_part_id_at"), "part_movement", ["part_id", "at"])
    op.create_table(
        "inspection",
        sa.Column("id", Id64, autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", Utc, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", Utc, nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.Column("signed_at", Utc, nullable=True),
        sa.Column("signed_by", sa.String(length=64), nullable=True),
        sa.Column("customer_note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection")),
        sa.UniqueConstraint("site_id", "kind", "period",
                            name=op.f("uq_inspection_site_id_kind_period")),
    )


def downgrade() -> None:
    op.drop_table("inspection")
    op.drop_table("part_movement")
    op.drop_table("spare_part")
    op.drop_table("access_audit")
    op.drop_table("api_token")
    op.drop_table("web_session")
    op.drop_table("app_user")
