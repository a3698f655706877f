"""``monitor users`` and ``monitor tokens``: the service desk's users and API tokens,
managed on the server (as root or the service's user, like ``monitor tickets``).

Passwords are read from the terminal (twice) or, with ``--password-stdin``, from the
first line of standard input -- never from the command line, where ``ps`` shows them.
Every change is in the access audit with the acting Unix user ("cli:NAME").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import os
import secrets
import sys
from collections.abc import Awaitable, Callable

from monitor.access.roles import Permission, Role
from monitor.access.sessions import Sessions
from monitor.access.users import NAME, AccessError, UserStore
from monitor.columns import table
from monitor.settings import Settings
from monitor.store.store import Store

BUSY_TIMEOUT_S = 5.0


def _actor() -> str:
    return "cli:" + (os.environ.get("SUDO_USER") or getpass.getuser())


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise AccessError("the two passwords differ")
    return first


async def _with_store(settings: Settings,
                      work: Callable[[UserStore, Sessions], Awaitable[int]]) -> int:
    store = await Store.open(settings.database_url, BUSY_TIMEOUT_S)
    try:
        desk = settings.desk
        users = UserStore(store, desk.login_failures, dt.timedelta(seconds=desk.login_window))
        return await work(users, Sessions(store))
    finally:
        await store.close()


def users_command(settings: Settings, args: argparse.Namespace) -> int:
    """``monitor users add|passwd|disable|enable|list|audit``."""

    async def work(users: UserStore, sessions: Sessions) -> int:
        if args.action == "list":
            rows: list[tuple[object, ...]] = [
                (u.name, u.role.value, u.customer or "", u.display_name,
                 "disabled" if u.disabled else "") for u in await users.users()]
            print(table(("NAME", "ROLE", "CUSTOMER", "DISPLAY NAME", ""), rows))
        elif args.action == "audit":
            rows = [(f"{e['at']:%Y-%m-%d %H:%M:%S}Z", e["actor"], e["action"], e["subject"],
                     e["ip"], e["detail"]) for e in await users.audit_log(args.name, args.limit)]
            print(table(("AT", "ACTOR", "ACTION", "USER", "ADDRESS", "DETAIL"), rows))
        elif args.action == "add":
            user = await users.add(args.name, Role(args.role), _password(args), actor=_actor(),
                                   display_name=args.display_name or "",
                                   customer=args.customer)
            print(f"user {user.name} added ({user.role.value})")
        elif args.action == "from-roster":
            return await from_roster(users, settings, args.dry_run)
        elif args.action == "passwd":
            await users.set_password(args.name, _password(args), actor=_actor())
            print(f"password of {args.name} changed; its sessions ended")
        else:
            await users.set_disabled(args.name, args.action == "disable", actor=_actor())
            print(f"user {args.name} {args.action}d")
        return 0

    return _run(work, settings, "users")


async def from_roster(users: UserStore, settings: Settings, dry_run: bool) -> int:
    """A desk user for every person of the roster who has none: the same name (the
    roster's id), their name shown, a supervisor if the roster says so, else on duty.
    Their password is random and never shown: each sets theirs through an admin
    (``monitor users passwd NAME``) before logging in.  Ack links need no login."""
    from monitor.wiring import roster_people  # (the roster is the alerts')
    try:
        people = roster_people(settings)
    except ValueError as exc:  # RosterError: missing, unreadable or invalid
        raise AccessError(str(exc)) from None
    existing = {u.name for u in await users.users()}
    added = 0
    for key, (name, supervisor) in people.items():
        if key in existing:
            continue
        role = Role.SUPERVISOR if supervisor else Role.DUTY
        if not NAME.match(key):
            print(f"{key}: not a user name (lower-case letters, digits, '.', '_', '-'): "
                  "skipped", file=sys.stderr)
            continue
        if dry_run:
            print(f"would add {key} ({role.value}, {name})")
        else:
            await users.add(key, role, secrets.token_urlsafe(24), actor=_actor(),
                            display_name=name)
            print(f"user {key} added ({role.value}, {name}): set a password with "
                  f"`monitor users passwd {key}`")
        added += 1
    if not added:
        print(f"every person of {settings.alerts.roster} is a desk user")
    return 0


def tokens_command(settings: Settings, args: argparse.Namespace) -> int:
    """``monitor tokens add|list|revoke``."""

    async def work(users: UserStore, sessions: Sessions) -> int:
        if args.action == "add":
            user = await users.get(args.user)
            if user is None:
                raise AccessError(f"no user {args.user!r}")
            scopes = [Permission(s) for s in args.scope] or sorted(user.grants)
            token_id, token = await sessions.issue_token(user, args.name, scopes,
                                                         actor=_actor())
            print(f"token {token_id} for {user.name} ({', '.join(sorted(scopes))}); "
                  "it is shown this once:", file=sys.stderr)
            print(token)
        elif args.action == "list":
            rows = [(t["id"], t["user"], t["name"], ",".join(t["scopes"]),  # type: ignore[arg-type]
                     f"{t['created_at']:%Y-%m-%d}",
                     "" if t["last_used_at"] is None else f"{t['last_used_at']:%Y-%m-%d %H:%M}",
                     "revoked" if t["revoked_at"] else "")
                    for t in await sessions.tokens(args.user)]
            print(table(("ID", "USER", "NAME", "SCOPES", "CREATED", "LAST USED", ""), rows))
        else:
            await sessions.revoke(args.id, actor=_actor())
            print(f"token {args.id} revoked")
        return 0

    return _run(work, settings, "tokens")


def _run(work: Callable[[UserStore, Sessions], Awaitable[int]], settings: Settings,
         command: str) -> int:
    try:
        return asyncio.run(_with_store(settings, work))
    except AccessError as exc:
        print(f"monitor {command}: {exc}", file=sys.stderr)
        return 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``users`` and ``tokens`` to the ``monitor`` command's subcommands."""
    users = sub.add_parser("users", help="service desk users: add, passwd, disable, enable, "
                                         "list, audit, from-roster (the roster's people)")
    users.add_argument("action", choices=("add", "passwd", "disable", "enable", "list",
                                          "audit", "from-roster"))
    users.add_argument("name", nargs="?", help="the user (all but list; audit: optional)")
    users.add_argument("--role", choices=[r.value for r in Role],
                       help="add: duty, supervisor, customer or admin")
    users.add_argument("--customer", help="add: a customer user's account (inventory "
                                          "customers:)")
    users.add_argument("--display-name", help="add: the name shown (e.g. 张工)")
    users.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input")
    users.add_argument("--limit", type=int, default=100, help="audit: how many events")
    users.add_argument("--dry-run", action="store_true",
                       help="from-roster: say whom it would add, add nobody")
    users.set_defaults(func=lambda args: users_command(_settings(args), args))
    tokens = sub.add_parser("tokens", help="API tokens: add, list, revoke")
    tokens.add_argument("action", choices=("add", "list", "revoke"))
    tokens.add_argument("--user", help="add: whose token; list: only this user's")
    tokens.add_argument("--name", default="api", help="add: what the token is for")
    tokens.add_argument("--scope", action="append", default=[],
                        choices=[p.value for p in Permission],
                        help="add: repeatable; default: all the user's role allows")
    tokens.add_argument("--id", type=int, help="revoke: the token's id")
    tokens.set_defaults(func=lambda args: tokens_command(_settings(args), args))


def missing(args: argparse.Namespace) -> str | None:
    """What a ``users`` or ``tokens`` command line lacks, if anything."""
    if args.command == "users":
        if args.action not in ("list", "audit", "from-roster") and not args.name:
            return f"users {args.action} needs a user name"
        if args.action == "add" and not args.role:
            return "users add needs --role"
    if args.command == "tokens":
        if args.action == "add" and not args.user:
            return "tokens add needs --user"
        if args.action == "revoke" and args.id is None:
            return "tokens revoke needs --id"
    return None


def _settings(args: argparse.Namespace) -> Settings:
    from monitor.settings import load_settings
    return load_settings(args.settings)
