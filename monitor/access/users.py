"""Users of the service desk, their passwords (argon2id, `argon2-cffi`), and logins
with throttling.

A login is refused without saying whether the name or the password was wrong.  After
`failures` failed logins for one user name within `window`, or four times as many
from one address, further attempts are refused (`Throttled`, with when to retry)
until the oldest of them leaves the window -- whether or not the password is then
right, so guessing gains nothing.  Failures are counted from the access audit, so a
restart forgets nothing.  Hashes are upgraded at the next good login when the
hasher's parameters have grown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.access.roles import GRANTS, Permission, Role
from monitor.store.store import Store
from monitor.store.tables import AccessAuditRow, UserRow, WebSessionRow

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
HASHER = PasswordHasher()  # argon2id with the library's current defaults (RFC 9106)


class AccessError(ValueError):
    """A request about users or logins that cannot be done; the message says why."""


class Throttled(AccessError):
    """Too many failed logins: try again after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class User:
    """A user as the desk sees one."""

    id: int
    name: str
    display_name: str
    role: Role
    customer: str | None
    disabled: bool

    @property
    def grants(self) -> frozenset[Permission]:
        """What the user's role allows."""
        return frozenset() if self.disabled else GRANTS[self.role]

    @classmethod
    def from_row(cls, r: Mapping[Any, Any]) -> User:
        """From an ``app_user`` row."""
        return cls(id=r["id"], name=r["name"], display_name=r["display_name"],
                   role=Role(r["role"]), customer=r["customer"], disabled=bool(r["disabled"]))


def check_password(password: str) -> None:
    """Refuse a password too weak to keep (`AccessError`)."""
    if len(password) < MIN_PASSWORD:
        raise AccessError(f"a password has at least {MIN_PASSWORD} characters")
    if password.strip() != password:
        raise AccessError("a password does not start or end with a space")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UserStore:
    """Users, their passwords and the access audit, in the store."""

    def __init__(self, store: Store, failures: int = 5,
                 window: dt.timedelta = dt.timedelta(minutes=15)) -> None:
        self.store = store
        self.failures = failures
        self.window = window

    async def audit(self, actor: str, action: str, subject: str = "", ip: str = "",
                    detail: str = "", now: dt.datetime | None = None) -> None:
        """Record one access event."""
        async with self.store.engine.begin() as conn:
            await conn.execute(insert(AccessAuditRow).values(
                at=now or _now(), actor=actor, action=action, subject=subject, ip=ip,
                detail=detail))

    async def add(self, name: str, role: Role, password: str, *, actor: str,
                  display_name: str = "", customer: str | None = None) -> User:
        """Create a user (`AccessError` if the name is taken or not allowed)."""
        if not NAME.match(name):
            raise AccessError(f"user name {name!r}: lower-case letters, digits, '.', '_', '-'")
        if role is Role.CUSTOMER and not customer:
            raise AccessError("a customer user names its customer account (--customer)")
        if role is not Role.CUSTOMER and customer:
            raise AccessError("only customer users have a customer account")
        check_password(password)
        now = _now()
        try:
            async with self.store.engine.begin() as conn:
                await conn.execute(insert(UserRow).values(
                    name=name, display_name=display_name, role=role.value, customer=customer,
                    password_hash=HASHER.hash(password), disabled=False, created_at=now,
                    password_changed_at=now))
                await conn.execute(insert(AccessAuditRow).values(
                    at=now, actor=actor, action="user_add", subject=name, ip="",
                    detail=f"role {role.value}" + (f", customer {customer}" if customer else "")))
        except IntegrityError:
            raise AccessError(f"user {name!r} exists") from None
        user = await self.get(name)
        assert user is not None
        return user

    async def get(self, name: str) -> User | None:
        """The user called `name`, or None."""
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(UserRow).where(UserRow.name == name))
                   ).mappings().first()
        return None if row is None else User.from_row(row)

    async def by_id(self, user_id: int) -> User | None:
        """The user with id `user_id`, or None."""
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(UserRow).where(UserRow.id == user_id))
                   ).mappings().first()
        return None if row is None else User.from_row(row)

    async def users(self) -> list[User]:
        """Every user, by name."""
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(select(UserRow).order_by(UserRow.name))).mappings()
            return [User.from_row(r) for r in rows]

    async def set_password(self, name: str, password: str, *, actor: str) -> None:
        """Change a password; the user's sessions end (`AccessError`: no such user)."""
        check_password(password)
        await self._change(name, actor, "passwd", "",
                           password_hash=HASHER.hash(password), password_changed_at=_now())

    async def set_disabled(self, name: str, disabled: bool, *, actor: str) -> None:
        """Disable (sessions end, tokens stop working) or enable a user."""
        await self._change(name, actor, "disable" if disabled else "enable", "",
                           disabled=disabled)

    async def _change(self, name: str, actor: str, action: str, detail: str,
                      **values: object) -> None:
        now = _now()
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(select(UserRow.id).where(UserRow.name == name))).first()
            if row is None:
                raise AccessError(f"no user {name!r}")
            await conn.execute(update(UserRow).where(UserRow.id == row.id).values(**values))
            if action in ("passwd", "disable"):  # whoever held a session must log in again
                await conn.execute(delete(WebSessionRow).where(
                    WebSessionRow.user_id == row.id))
            await conn.execute(insert(AccessAuditRow).values(
                at=now, actor=actor, action=action, subject=name, ip="", detail=detail))

    async def login(self, name: str, password: str, ip: str,
                    now: dt.datetime | None = None) -> User | None:
        """The user if `password` is theirs and they may log in, else None; `Throttled`
        after too many failures.  Every attempt is audited."""
        now = now or _now()
        await self._throttle(name, ip, now)
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(UserRow).where(UserRow.name == name))
                   ).mappings().first()
        ok = False
        if row is not None:
            try:
                ok = HASHER.verify(row["password_hash"], password)
            except (VerificationError, InvalidHashError):
                ok = False
        else:
            HASHER.hash(password)  # as slow as a real check: timing tells no names
        if not ok or row is None or row["disabled"]:
            why = "disabled" if ok and row is not None else "bad name or password"
            await self.audit(name, "login_failed", name, ip, why, now)
            return None
        if HASHER.check_needs_rehash(row["password_hash"]):
            async with self.store.engine.begin() as conn:
                await conn.execute(update(UserRow).where(UserRow.id == row["id"]).values(
                    password_hash=HASHER.hash(password)))
        await self.audit(name, "login", name, ip, "", now)
        return User.from_row(row)

    async def _throttle(self, name: str, ip: str, now: dt.datetime) -> None:
        since = now - self.window
        failed = (AccessAuditRow.action == "login_failed") & (AccessAuditRow.at > since)
        async with self.store.engine.connect() as conn:
            for where, limit in ((AccessAuditRow.subject == name, self.failures),
                                 (AccessAuditRow.ip == ip, 4 * self.failures)):
                count = (await conn.execute(
                    select(func.count()).where(failed & where))).scalar_one()
                if count >= limit:
                    # The window slides: free again once the `limit`-th newest failure
                    # has aged out of it.
                    nth = (await conn.execute(
                        select(AccessAuditRow.at).where(failed & where)
                        .order_by(AccessAuditRow.at.desc()).offset(limit - 1).limit(1))
                    ).scalar_one()
                    retry = max(1.0, (nth + self.window - now).total_seconds())
                    await self.audit(name, "login_throttled", name, ip,
                                     f"{count} failures in {self.window}", now)
                    raise Throttled(retry)

    async def audit_log(self, subject: str | None = None, limit: int = 100
                        ) -> list[dict[str, object]]:
        """The newest access events (of `subject`), newest first."""
        query = select(AccessAuditRow).order_by(AccessAuditRow.id.desc()).limit(limit)
        if subject is not None:
            query = query.where(AccessAuditRow.subject == subject)
        async with self.store.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

