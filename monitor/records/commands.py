"""``monitor parts``: the spare parts and loaner log from the server's shell."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from monitor.columns import table
from monitor.records.parts import MOVES, PartsError, PartsLog
from monitor.settings import load_settings
from monitor.store.store import Store


async def _parts(args: argparse.Namespace) -> int:
    store = await Store.open(load_settings(args.settings).database_url, 5.0)
    log, by = PartsLog(store), args.by or os.environ.get("SUDO_USER") or getpass.getuser()
    try:
        if args.action == "add":
            part = await log.receive(args.serial, args.name or "", args.location or "",
                                     actor=by, model=args.model or "", note=args.note or "")
            print(f"part {part.id}: {part.label} in stock at {part.location}")
        elif args.action == "list":
            print(table(("ID", "SERIAL", "NAME", "MODEL", "STATE", "WHERE"),
                        [(p.id, p.serial, p.name, p.model, p.state, p.location)
                         for p in await log.parts(args.state)]))
        elif args.action == "move":
            part = await log.move(int(args.serial), args.kind, args.to, actor=by,
                                  ticket=args.ticket, note=args.note or "")
            print(f"part {part.id}: {part.state} at {part.location}")
        else:
            print(table(("AT", "MOVE", "FROM", "TO", "TICKET", "BY", "NOTE"),
                        [(f"{m['at']:%Y-%m-%d %H:%M}Z", m["kind"], m["from_location"],
                          m["to_location"], m["ticket"] or "", m["actor"], m["note"])
                         for m in await log.history(int(args.serial))]))
        return 0
    except (PartsError, ValueError) as exc:
        print(f"monitor parts: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``parts`` to the ``monitor`` command's subcommands."""
    parts = sub.add_parser("parts", help="spare parts and loaners: add, list, move, history")
    parts.add_argument("action", choices=("add", "list", "move", "history"))
    parts.add_argument("serial", nargs="?", help="add: the serial number; move, history: "
                                                 "the part's id")
    parts.add_argument("--name", help="add: what it is (e.g. 摄像机电源适配器)")
    parts.add_argument("--model", help="add: its model")
    parts.add_argument("--location", help="add: where it is kept")
    parts.add_argument("--state", choices=("stock", "installed", "loaned", "retired"),
                       help="list: only these")
    parts.add_argument("--kind", choices=list(MOVES), help="move: installed, loaned, "
                                                           "returned, retired")
    parts.add_argument("--to", help="move: where to (a device, a site, a store room)")
    parts.add_argument("--ticket", help="move: the ticket it went into")
    parts.add_argument("--note")
    parts.add_argument("--by", help="who (default: the Unix user)")
    parts.set_defaults(func=lambda args: asyncio.run(_parts(args)))


def missing(args: argparse.Namespace) -> str | None:
    """What a ``parts`` command line lacks, if anything."""
    if args.action in ("add", "move", "history") and not args.serial:
        return f"parts {args.action} needs " + ("a serial number" if args.action == "add"
                                                else "a part id")
    if args.action == "add" and not (args.name and args.location):
        return "parts add needs --name and --location"
    if args.action == "move" and not (args.kind and args.to):
        return "parts move needs --kind and --to"
    return None
