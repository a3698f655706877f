"""The database schema (SQLAlchemy 2.x ORM), migrated by Alembic.

* ``check_state`` -- the current state of each check (one row per check), so a
  restart continues where it stopped instead of announcing everything again;
* ``state_change`` -- the history: one row per state or flapping change, never
  per sample;
* ``ticket``, ``ticket_audit`` -- service tickets (the 客户售后服务单) and
  every transition of them; at most one open ticket per fault, enforced by a
  partial unique index, not by hope;
* ``notification_outbox`` -- notifications to deliver, each with an idempotency
  key, so nothing accepted is lost or sent twice across crashes;
* ``outbox_cursor`` -- how far the notifier has read ``ticket_audit``: the audit
  rows are the transactional outbox's events (written in the ticket's own
  transaction), and a row's messages are enqueued in the same transaction that
  moves the cursor past it;
* ``daemon_run`` -- when a daemon ran (started, last heartbeat, stopped), so the
  report can tell time observed from time nobody was looking;
* ``app_user``, ``web_session``, ``api_token``, ``access_audit`` -- the service
  desk's users, their browser sessions and API tokens (hashes only), and every
  login, failed login and change to them (`monitor.access`);
* ``spare_part``, ``part_movement`` -- the spare parts and loaner devices, and every
  movement of one (received, installed for a ticket, loaned, returned, retired);
* ``inspection`` -- the monthly inspection of each site: its checklist, who confirmed
  it, who signed it off;
* ``survey`` -- the customers' half-yearly satisfaction surveys (顾客满意度调查表), one
  row per respondent, answered online or transcribed from paper;
* ``attachment`` -- scanned paper records (a customer's signed confirmation of a
  repair), kept in the store with their digest so a backup carries them;
* ``cluster_lease``, ``cluster_node`` -- the leader's lease with its fencing epoch, and
  the nodes of a cluster with their heartbeats (`monitor.cluster`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Id64 = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only


class Base(DeclarativeBase):
    """Declarative base with constraint naming (stable names for migrations)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JSON}


class CheckStateRow(Base):
    """Current state of one check."""

    __tablename__ = "check_state"
    __table_args__ = (Index(None, "state"),)  # a cluster's leader reads the unwell ones

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    check_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    probe_kind: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[str] = mapped_column(String(64))
    device_kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime | None]
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    streak_state: Mapped[str | None] = mapped_column(String(16))
    streak: Mapped[int] = mapped_column(Integer, default=0)
    changes: Mapped[list[float]] = mapped_column(JSON, default=list)
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_reason: Mapped[str | None] = mapped_column(String(64))
    last_detail: Mapped[str | None] = mapped_column(Text)
    last_latency_s: Mapped[float | None] = mapped_column(Float)
    last_values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_run_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # What the probe learned (a camera's normal picture): `ProbeResult.learned`.
    learned: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StateChangeRow(Base):
    """One change of a check's state or flapping flag."""

    __tablename__ = "state_change"
    __table_args__ = (Index(None, "device_id", "check_name", "at"), Index(None, "at"))

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    device_id: Mapped[str] = mapped_column(String(64))
    check_name: Mapped[str] = mapped_column(String(64))
    probe_kind: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[str] = mapped_column(String(64))
    device_kind: Mapped[str] = mapped_column(String(32))
    # "state", "flapping", or what a probe saw happen ("reboot", "inventory_drift")
    event: Mapped[str] = mapped_column(String(32))
    old_state: Mapped[str | None] = mapped_column(String(16))
    new_state: Mapped[str | None] = mapped_column(String(16))
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    latency_s: Mapped[float | None] = mapped_column(Float)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TicketRow(Base):
    """A service ticket: the fields of the paper service record."""

    __tablename__ = "ticket"
    __table_args__ = (
        # At most one active ticket per fault -- across restarts and across several
        # daemons sharing one database.  (A resolved ticket may be reopened within a
        # window; past it, the same fault gets a new ticket.)
        Index("uq_ticket_active_fault", "fault_key", unique=True,
              sqlite_where=text("state IN ('open', 'acknowledged', 'onsite')"),
              postgresql_where=text("state IN ('open', 'acknowledged', 'onsite')")),
        Index(None, "fault_key", "resolved_at"),
        Index(None, "state", "level"),
    )

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    fault_key: Mapped[str] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)  # in the daemon's language
    # the title in each language ({"zh": …, "en": …}), so either reads its own
    titles: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    description: Mapped[str] = mapped_column(Text, default="")
    members: Mapped[list[str]] = mapped_column(JSON, default=list)  # devices affected
    region: Mapped[str] = mapped_column(String(64), default="")
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    solution_at: Mapped[datetime | None]
    onsite_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    engineer: Mapped[str | None] = mapped_column(String(64))
    actions_taken: Mapped[str] = mapped_column(Text, default="")
    parts_replaced: Mapped[str] = mapped_column(Text, default="")
    customer_confirmation: Mapped[str | None] = mapped_column(Text)
    # SLA: {"acknowledge": iso, "solution": iso, "onsite": iso, "repair": iso},
    # "paused": [[from, to|null], ...], "breached": ["acknowledge", ...]
    deadlines: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class TicketAuditRow(Base):
    """Who did what to a ticket, when, and why."""

    __tablename__ = "ticket_audit"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"),
                                           index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    # What the notifier needs of the event as it was: {"level", "title"} for open and
    # raise, {"clock", "deadline"} for sla_breach.
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class OutboxCursorRow(Base):
    """The last ``ticket_audit`` row whose notifications are in the outbox."""

    __tablename__ = "outbox_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_audit_id: Mapped[int] = mapped_column(Id64)
    updated_at: Mapped[datetime]


class DaemonRunRow(Base):
    """One run of the daemon: observed time is from `started_at` to `seen_at`."""

    __tablename__ = "daemon_run"
    __table_args__ = (Index(None, "started_at"),)

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    # a cluster node's pins (sites or regions): it observed only those; NULL or empty:
    # every site that no pinned node polls
    pins: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True), nullable=True)


class OutboxRow(Base):
    """A notification waiting to be delivered (or delivered, for the record)."""

    __tablename__ = "notification_outbox"
    __table_args__ = (Index(None, "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]


class ForgetRequestRow(Base):
    """``monitor baseline reset``: forget what a check learned.  The CLI writes it, the
    daemon takes it (running or at its next start), so neither overwrites the other."""

    __tablename__ = "forget_request"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64))
    check_name: Mapped[str | None] = mapped_column(String(64))  # None: every check
    requested_at: Mapped[datetime]


class UserRow(Base):
    """Someone who logs in to the service desk (`monitor.access`)."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16))  # duty, supervisor, customer, admin
    customer: Mapped[str | None] = mapped_column(String(64))  # a customer user's account
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, PHC string
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]


class WebSessionRow(Base):
    """A browser session: the cookie holds a random token, the row its SHA-256."""

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"),
                                         index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime]
    ip: Mapped[str] = mapped_column(String(64), default="")


class ApiTokenRow(Base):
    """An API token of a user: scoped, revocable; the row holds its SHA-256."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"),
                                         index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AccessAuditRow(Base):
    """Logins (good and bad), logouts, and changes to users and tokens."""

    __tablename__ = "access_audit"
    __table_args__ = (Index(None, "subject", "at"), Index(None, "ip", "at"))

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))  # who did it ("cli:root" for the CLI)
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64), default="")  # the user it concerns
    ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class SparePartRow(Base):
    """A spare part or a loaner device the maintenance team keeps (备品备件)."""

    __tablename__ = "spare_part"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128), default="")
    state: Mapped[str] = mapped_column(String(16))  # stock, installed, loaned, retired
    location: Mapped[str] = mapped_column(String(128))  # a store room, a device, a site
    updated_at: Mapped[datetime]


class PartMovementRow(Base):
    """One movement of a part: where from, where to, for which ticket, by whom."""

    __tablename__ = "part_movement"
    __table_args__ = (Index(None, "part_id", "at"),)

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("spare_part.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))  # received, installed, loaned, returned, retired
    from_location: Mapped[str] = mapped_column(String(128), default="")
    to_location: Mapped[str] = mapped_column(String(128), default="")
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class InspectionRow(Base):
    """An inspection of one site -- the monthly one (每月系统巡检), the weekly routine
    or a patrol: the checklist, pre-filled from what the daemon observed, confirmed by
    the engineer, signed off by the customer."""

    __tablename__ = "inspection"
    __table_args__ = (UniqueConstraint("site_id", "kind", "period"),)

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # monthly, routine, patrol
    period: Mapped[str] = mapped_column(String(10))  # 2026-12, 2026-W49, 2026-12-05
    state: Mapped[str] = mapped_column(String(16))  # draft, submitted, signed
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime | None]
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    signed_at: Mapped[datetime | None]
    signed_by: Mapped[str | None] = mapped_column(String(64))
    customer_note: Mapped[str] = mapped_column(Text, default="")


class SurveyRow(Base):
    """One respondent's answers to a half-year's satisfaction survey."""

    __tablename__ = "survey"
    __table_args__ = (UniqueConstraint("customer", "period", "respondent"),)

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    customer: Mapped[str] = mapped_column(String(64))  # the inventory's customer account
    period: Mapped[str] = mapped_column(String(8))  # 2026-H2
    respondent: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(8))  # online, paper
    scores: Mapped[dict[str, int]] = mapped_column(JSON)  # question -> 1..5
    comments: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class AttachmentRow(Base):
    """A scanned paper record, attached to a ticket."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(Id64, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"),
                                           index=True)
    kind: Mapped[str] = mapped_column(String(16))  # confirmation
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime]


class ClusterLeaseRow(Base):
    """A lease that one node of a cluster holds at a time (`monitor.cluster.lease`)."""

    __tablename__ = "cluster_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    epoch: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]


class ClusterNodeRow(Base):
    """A node of a cluster: alive while its heartbeat (the database's clock) is recent."""

    __tablename__ = "cluster_node"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(32))
    pins: Mapped[list[str]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    status: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ClusterAppliedRow(Base):
    """How far each remote poller's batches are applied (`monitor.cluster.spool`)."""

    __tablename__ = "cluster_applied"

    node: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    applied_at: Mapped[datetime]
