"""Browser sessions and API tokens.

A session is a random 256-bit token in a cookie; the store keeps only its SHA-256, so
a copy of the database logs nobody in.  It ends after `idle` without a request, after
`absolute` whatever happens, at logout, and when its user's password changes or the
user is disabled.  Each session has its own CSRF token (the synchronizer-token
pattern): every form and every unsafe API call made with the cookie carries it.

An API token ("svm_" and 43 URL-safe characters) is shown once, when created; it
carries scopes (`monitor.access.roles.Permission`), is revoked by id, and stops
working when its user is disabled.  Requests with a token need no CSRF token: a
browser never adds one by itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from monitor.access.roles import Permission
from monitor.access.users import AccessError, User
from monitor.store.store import Store
from monitor.store.tables import AccessAuditRow, ApiTokenRow, UserRow, WebSessionRow

TOKEN_PREFIX = "svm_"
SEEN_EVERY = dt.timedelta(seconds=60)  # a session's last request is written at most this often


def digest(token: str) -> str:
    """The stored form of a session or API token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from, and what it may do."""

    user: User
    grants: frozenset[Permission]
    csrf: str | None = None  # a browser session's CSRF token; None for an API token
    session: str | None = None  # the session token's digest (to log out)

    def may(self, permission: Permission) -> bool:
        """Whether this request may do what `permission` allows."""
        return permission in self.grants

    def csrf_ok(self, sent: str | None) -> bool:
        """Whether `sent` is this session's CSRF token (always true for an API token)."""
        if self.csrf is None:
            return True
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Sessions:
    """Browser sessions and API tokens, in the store."""

    def __init__(self, store: Store, idle: dt.timedelta = dt.timedelta(minutes=30),
                 absolute: dt.timedelta = dt.timedelta(hours=12)) -> None:
        self.store = store
        self.idle = idle
        self.absolute = absolute

    async def start(self, user: User, ip: str, now: dt.datetime | None = None) -> tuple[str, str]:
        """A new session for `user`: (the cookie's token, the session's CSRF token)."""
        now = now or _now()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        async with self.store.engine.begin() as conn:
            await conn.execute(insert(WebSessionRow).values(
                token_hash=digest(token), user_id=user.id, csrf=csrf, created_at=now,
                seen_at=now, ip=ip[:64]))
            # sessions that ran out are removed as new ones start
            await conn.execute(delete(WebSessionRow).where(
                (WebSessionRow.seen_at < now - self.idle)
                | (WebSessionRow.created_at < now - self.absolute)))
        return token, csrf

    async def resume(self, token: str, now: dt.datetime | None = None) -> Principal | None:
        """The principal of a session cookie, or None if it is unknown, ran out, or its
        user is disabled."""
        now = now or _now()
        key = digest(token)
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(
                select(WebSessionRow, UserRow).join(UserRow, UserRow.id == WebSessionRow.user_id)
                .where(WebSessionRow.token_hash == key))).mappings().first()
        if row is None:
            return None
        if (row["seen_at"] + self.idle <= now or row["created_at"] + self.absolute <= now
                or row["disabled"]):
            await self.end(key)
            return None
        if now - row["seen_at"] >= SEEN_EVERY:
            async with self.store.engine.begin() as conn:
                await conn.execute(update(WebSessionRow).where(
                    WebSessionRow.token_hash == key).values(seen_at=now))
        user = User.from_row({**row, "id": row["user_id"]})
        return Principal(user, user.grants, csrf=row["csrf"], session=key)

    async def end(self, key: str) -> None:
        """End the session whose token digest is `key` (logout)."""
        async with self.store.engine.begin() as conn:
            await conn.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == key))

    async def issue_token(self, user: User, name: str, scopes: Iterable[Permission], *,
                          actor: str) -> tuple[int, str]:
        """A new API token for `user`: (its id, the token -- shown this once)."""
        wanted = frozenset(scopes)
        if not wanted:
            raise AccessError("a token has at least one scope")
        if not wanted <= user.grants:
            extra = ", ".join(sorted(wanted - user.grants))
            raise AccessError(f"{user.name} ({user.role}) may not hold scope {extra}")
        token, now = TOKEN_PREFIX + secrets.token_urlsafe(32), _now()
        async with self.store.engine.begin() as conn:
            result = await conn.execute(insert(ApiTokenRow).values(
                user_id=user.id, name=name, token_hash=digest(token),
                scopes=sorted(wanted), created_at=now))
            await conn.execute(insert(AccessAuditRow).values(
                at=now, actor=actor, action="token_add", subject=user.name, ip="",
                detail=f"{name}: {', '.join(sorted(wanted))}"))
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0]), token

    async def bearer(self, token: str, now: dt.datetime | None = None) -> Principal | None:
        """The principal of an API token, or None if unknown, revoked, or its user is
        disabled."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        now = now or _now()
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(
                select(ApiTokenRow.id.label("token_id"), ApiTokenRow.scopes,
                       ApiTokenRow.revoked_at, ApiTokenRow.last_used_at, UserRow)
                .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                .where(ApiTokenRow.token_hash == digest(token)))).mappings().first()
        if row is None or row["revoked_at"] is not None or row["disabled"]:
            return None
        last = row["last_used_at"]
        if last is None or now - last >= SEEN_EVERY:
            async with self.store.engine.begin() as conn:
                await conn.execute(update(ApiTokenRow).where(
                    ApiTokenRow.id == row["token_id"]).values(last_used_at=now))
        user = User.from_row(row)
        return Principal(user, user.grants & frozenset(Permission(s) for s in row["scopes"]))

    async def tokens(self, user: str | None = None) -> list[dict[str, object]]:
        """API tokens (never their secret), of one user or all."""
        query = (select(ApiTokenRow.id, ApiTokenRow.name, ApiTokenRow.scopes,
                        ApiTokenRow.created_at, ApiTokenRow.last_used_at,
                        ApiTokenRow.revoked_at, UserRow.name.label("user"))
                 .join(UserRow, UserRow.id == ApiTokenRow.user_id).order_by(ApiTokenRow.id))
        if user is not None:
            query = query.where(UserRow.name == user)
        async with self.store.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def revoke(self, token_id: int, *, actor: str) -> None:
        """Revoke an API token by id (`AccessError` if there is none, or it is revoked)."""
        now = _now()
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(
                select(ApiTokenRow.revoked_at, ApiTokenRow.name, UserRow.name.label("user"))
                .join(UserRow, UserRow.id == ApiTokenRow.user_id)
                .where(ApiTokenRow.id == token_id))).mappings().first()
            if row is None or row["revoked_at"] is not None:
                raise AccessError(f"no live token {token_id}")
            await conn.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id)
                               .values(revoked_at=now))
            await conn.execute(insert(AccessAuditRow).values(
                at=now, actor=actor, action="token_revoke", subject=row["user"], ip="",
                detail=f"{token_id} {row['name']}"))

    async def live(self, now: dt.datetime | None = None) -> list[dict[str, object]]:
        """The browser sessions still running (never their token): whose, from where,
        since when, last seen; `key` ends one."""
        now = now or _now()
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(
                select(WebSessionRow.token_hash.label("key"), WebSessionRow.created_at,
                       WebSessionRow.seen_at, WebSessionRow.ip, UserRow.name.label("user"))
                .join(UserRow, UserRow.id == WebSessionRow.user_id)
                .where(WebSessionRow.seen_at > now - self.idle,
                       WebSessionRow.created_at > now - self.absolute)
                .order_by(WebSessionRow.seen_at.desc()))
            return [dict(r) for r in rows.mappings()]

    async def end_for(self, key: str, *, actor: str) -> None:
        """End someone's session (an admin's act, audited); `AccessError` if it is gone."""
        now = _now()
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(
                select(UserRow.name).join(WebSessionRow, UserRow.id == WebSessionRow.user_id)
                .where(WebSessionRow.token_hash == key))).first()
            if row is None:
                raise AccessError("no such session (it has ended)")
            await conn.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == key))
            await conn.execute(insert(AccessAuditRow).values(
                at=now, actor=actor, action="session_end", subject=row.name, ip="",
                detail="ended by an admin"))
