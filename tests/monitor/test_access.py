"""Users, passwords, logins with throttling, sessions and API tokens -- on SQLite and
PostgreSQL (the HTTP side: tests/web/)."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.access.roles import Permission, Role
from monitor.access.sessions import Sessions, digest
from monitor.access.users import AccessError, Throttled, UserStore
from monitor.store.store import Store

PASSWORD = "correct horse battery"
T0 = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)


async def test_users_are_created_checked_and_audited(store_url: str) -> None:
    store = await Store.open(store_url)
    users = UserStore(store)
    try:
        zhang = await users.add("zhang", Role.DUTY, PASSWORD, actor="cli:root",
                                display_name="张工")
        assert zhang.grants == {Permission.READ, Permission.WORK}
        with pytest.raises(AccessError, match="exists"):
            await users.add("zhang", Role.DUTY, PASSWORD, actor="cli:root")
        with pytest.raises(AccessError, match="at least 10"):
            await users.add("li", Role.DUTY, "short", actor="cli:root")
        with pytest.raises(AccessError, match="customer account"):
            await users.add("li", Role.CUSTOMER, PASSWORD, actor="cli:root")
        with pytest.raises(AccessError, match="only customer users"):
            await users.add("li", Role.DUTY, PASSWORD, actor="cli:root", customer="qd")
        with pytest.raises(AccessError, match="lower-case"):
            await users.add("Li Si", Role.DUTY, PASSWORD, actor="cli:root")
        assert await users.login("zhang", PASSWORD, "127.0.0.9") == zhang
        assert await users.login("zhang", "wrong password", "127.0.0.9") is None
        assert await users.login("nobody", PASSWORD, "127.0.0.9") is None
        await users.set_disabled("zhang", True, actor="cli:root")
        assert await users.login("zhang", PASSWORD, "127.0.0.9") is None  # right, but disabled
        await users.set_disabled("zhang", False, actor="cli:root")
        await users.set_password("zhang", "another long secret", actor="cli:root")
        assert await users.login("zhang", PASSWORD, "127.0.0.9") is None
        assert await users.login("zhang", "another long secret", "127.0.0.9") is not None
        stored = (await users.audit_log(limit=20))[::-1]
        assert [(e["action"], e["subject"], e["detail"]) for e in stored] == [
            ("user_add", "zhang", "role duty"), ("login", "zhang", ""),
            ("login_failed", "zhang", "bad name or password"),
            ("login_failed", "nobody", "bad name or password"),
            ("disable", "zhang", ""), ("login_failed", "zhang", "disabled"),
            ("enable", "zhang", ""), ("passwd", "zhang", ""),
            ("login_failed", "zhang", "bad name or password"), ("login", "zhang", "")]
        assert all(e["ip"] == "127.0.0.9" for e in stored if e["action"].startswith("login"))
    finally:
        await store.close()


async def test_failed_logins_are_throttled_per_name_and_per_address(store_url: str) -> None:
    """After 5 failures for a name in 15 minutes even the right password waits; the
    window slides; an address guessing across names is stopped at 4x as many."""
    store = await Store.open(store_url)
    users = UserStore(store, failures=5, window=dt.timedelta(minutes=15))
    try:
        await users.add("zhang", Role.DUTY, PASSWORD, actor="test")
        for i in range(5):
            assert await users.login("zhang", "guess", "127.0.0.2",
                                     T0 + dt.timedelta(minutes=i)) is None
        with pytest.raises(Throttled) as caught:
            await users.login("zhang", PASSWORD, "127.0.0.3", T0 + dt.timedelta(minutes=5))
        # free when the first failure (at T0) leaves the 15-minute window
        assert caught.value.retry_after == pytest.approx(10 * 60, abs=1)
        assert await users.login("zhang", PASSWORD, "127.0.0.3",
                                 T0 + dt.timedelta(minutes=15, seconds=1)) is not None
        # one address trying many names
        for i in range(20):
            assert await users.login(f"user{i}", "guess", "127.0.0.4",
                                     T0 + dt.timedelta(minutes=20, seconds=i)) is None
        with pytest.raises(Throttled):
            await users.login("zhang", PASSWORD, "127.0.0.4", T0 + dt.timedelta(minutes=21))
        assert await users.login("zhang", PASSWORD, "127.0.0.5",
                                 T0 + dt.timedelta(minutes=21)) is not None
        throttled = [e for e in await users.audit_log() if e["action"] == "login_throttled"]
        assert len(throttled) == 2
    finally:
        await store.close()


async def test_sessions_end_when_idle_at_the_limit_and_on_password_change(
        store_url: str) -> None:
    store = await Store.open(store_url)
    users = UserStore(store)
    sessions = Sessions(store, idle=dt.timedelta(minutes=30), absolute=dt.timedelta(hours=12))
    try:
        user = await users.add("zhang", Role.DUTY, PASSWORD, actor="test")
        token, csrf = await sessions.start(user, "127.0.0.1", T0)
        found = await sessions.resume(token, T0 + dt.timedelta(minutes=29))
        assert found is not None and found.user.name == "zhang" and found.csrf == csrf
        assert found.csrf_ok(csrf) and not found.csrf_ok(None) and not found.csrf_ok("x" + csrf)
        # kept alive by use, every 29 minutes, until the absolute limit
        at = T0
        while at + dt.timedelta(minutes=29) < T0 + dt.timedelta(hours=12):
            at += dt.timedelta(minutes=29)
            assert await sessions.resume(token, at) is not None, at
        assert await sessions.resume(token, T0 + dt.timedelta(hours=12)) is None
        # idle
        token, _ = await sessions.start(user, "127.0.0.1", T0)
        assert await sessions.resume(token, T0 + dt.timedelta(minutes=30)) is None
        assert await sessions.resume(token, T0 + dt.timedelta(minutes=1)) is None  # gone
        # a password change or a disabled user ends every session
        now = dt.datetime.now(dt.UTC)
        one, _ = await sessions.start(user, "127.0.0.1", now)
        two, _ = await sessions.start(user, "127.0.0.1", now)
        await users.set_password("zhang", "another long secret", actor="test")
        assert await sessions.resume(one) is None and await sessions.resume(two) is None
        three, _ = await sessions.start(user, "127.0.0.1")
        await users.set_disabled("zhang", True, actor="test")
        assert await sessions.resume(three) is None
        # the store holds digests, never the cookie's token
        async with store.engine.connect() as conn:
            from sqlalchemy import text
            kept = [r[0] for r in await conn.execute(text("SELECT token_hash FROM web_session"))]
        assert three not in kept and all(len(k) == 64 for k in kept)
        assert await sessions.resume("not a token") is None
        assert digest(three) != three
    finally:
        await store.close()


async def test_api_tokens_are_scoped_revocable_and_die_with_their_user(store_url: str) -> None:
    store = await Store.open(store_url)
    users = UserStore(store)
    sessions = Sessions(store)
    try:
        zhang = await users.add("zhang", Role.DUTY, PASSWORD, actor="test")
        li = await users.add("li", Role.CUSTOMER, PASSWORD, actor="test", customer="qd")
        with pytest.raises(AccessError, match="may not hold scope admin"):
            await sessions.issue_token(zhang, "ci", [Permission.ADMIN], actor="test")
        with pytest.raises(AccessError, match="may not hold scope work"):
            await sessions.issue_token(li, "ci", [Permission.WORK], actor="test")
        read_id, read = await sessions.issue_token(zhang, "grafana", [Permission.READ],
                                                   actor="test")
        _, full = await sessions.issue_token(zhang, "cli", zhang.grants, actor="test")
        assert read.startswith("svm_") and len(read) == 47
        found = await sessions.bearer(read)
        assert found is not None and found.grants == {Permission.READ}
        assert found.csrf is None and found.csrf_ok(None)  # no cookie, no CSRF to forge
        both = await sessions.bearer(full)
        assert both is not None and both.grants == {Permission.READ, Permission.WORK}
        assert await sessions.bearer("svm_" + "x" * 43) is None
        assert await sessions.bearer(read.removeprefix("svm_")) is None
        await sessions.revoke(read_id, actor="test")
        assert await sessions.bearer(read) is None
        with pytest.raises(AccessError, match="no live token"):
            await sessions.revoke(read_id, actor="test")
        listed = await sessions.tokens("zhang")
        assert [(t["name"], t["revoked_at"] is not None) for t in listed] == [
            ("grafana", True), ("cli", False)]
        assert listed[1]["last_used_at"] is not None
        await users.set_disabled("zhang", True, actor="test")
        assert await sessions.bearer(full) is None
    finally:
        await store.close()
