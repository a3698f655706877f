"""The ``monitor`` command: run, check, schema, once, status, tickets, duty, calendar,
report, assets, users, tokens, parts."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor import logs
from monitor.access import commands as access_commands
from monitor.cluster import commands as cluster_commands
from monitor.columns import table as _table
from monitor.records import commands as parts_commands
from monitor.settings import Settings, SettingsError, load_settings, redacted
from monitor.store import commands as store_commands
from monitor.topology import commands as topology_commands

EXIT_INVALID = 1
EX_UNAVAILABLE = 69  # sysexits: a service (the database) cannot be reached
EX_IOERR = 74  # sysexits: a file could not be read or written
EX_SOFTWARE = 70  # sysexits: an error nobody foresaw (--debug shows its traceback)
CLI_BUSY_TIMEOUT_S = 5.0  # how long a command waits for the daemon's SQLite write lock


def _settings(args: argparse.Namespace) -> Settings:
    inventory = getattr(args, "inventory", None) or getattr(args, "file", None)
    return load_settings(args.settings, inventory=inventory)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the settings, the inventory (and the roster and holidays they name) and
    how they fit together; print every problem; exit 0 only when valid.  Warnings (the
    holiday data running out) are printed but do not fail."""
    from monitor.inventory import InventoryError, load_inventory
    try:
        settings: Settings | None = _settings(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        settings = None
    path = args.file or (settings.inventory if settings else "inventory.yaml")
    try:
        inv = load_inventory(path)
    except InventoryError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{path}: {n} problem{'s' if n != 1 else ''}", file=sys.stderr)
        return EXIT_INVALID
    if settings is None:
        return EXIT_INVALID
    from monitor.wiring import config_problems
    problems = config_problems(settings, inv)
    for text in problems:
        print(text, file=sys.stderr)
    warning = settings.sla.coverage_warning(datetime.now(UTC))
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if problems:
        return EXIT_INVALID
    print(f"{path}: OK — {len(inv.sites)} sites, {len(inv.devices)} devices, "
          f"{inv.check_count} checks")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of inventory.yaml."""
    from monitor.inventory.schema import inventory_schema
    text = json.dumps(inventory_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM."""
    from monitor.daemon import Daemon
    settings = _settings(args)
    logs.setup(settings.log_level, settings.log_format)
    return asyncio.run(Daemon(settings).run())


async def _once(settings: Settings, device: str | None, check: str | None) -> list[Any]:
    from monitor.core import Monitor
    from monitor.events import EventBus
    from monitor.inventory import load_inventory
    from probes.clients import SharedClients
    inventory = load_inventory(settings.inventory)
    if device is not None and device not in inventory.devices:
        raise SystemExit(f"monitor once: no device {device!r} in {settings.inventory}")
    clients = SharedClients()
    monitor = Monitor(None, EventBus(), clients, max_in_flight=settings.max_in_flight,
                      kind_limits=settings.kind_concurrency)
    await monitor.apply(inventory)
    try:
        return await monitor.run_once(device, check)
    finally:
        await clients.close()


def cmd_once(args: argparse.Namespace) -> int:
    """Run the checks once now and print the results."""
    from monitor.inventory import InventoryError
    settings = _settings(args)
    logs.setup("warning", settings.log_format)
    try:
        results = asyncio.run(_once(settings, args.device, args.check))
    except InventoryError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    if args.format == "json":
        out = [{"device": job.target.device_id, "check": job.check.name, **r.to_json()}
               for job, r in results]
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        rows = [(job.target.device_id, job.check.name, r.status.value, str(r.reason),
                 "" if r.latency_s is None else f"{r.latency_s * 1000:.1f} ms", r.detail)
                for job, r in results]
        print(_table(("DEVICE", "CHECK", "STATUS", "REASON", "LATENCY", "DETAIL"), rows))
    return 0 if all(not r.status.is_failure for _, r in results) else EXIT_INVALID


async def _status(settings: Settings, device: str | None) -> list[Any]:
    from monitor.store.store import Store
    store = await Store.open(settings.database_url, CLI_BUSY_TIMEOUT_S)
    try:
        return await store.states(device)
    finally:
        await store.close()


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _no_store(settings: Settings, command: str) -> bool:
    """Say so when the embedded store does not exist (rather than create it empty)."""
    from sqlalchemy.engine import make_url
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        print(f"monitor {command}: no database at {url.database} (has the daemon run?)",
              file=sys.stderr)
        return True
    return False


def cmd_status(args: argparse.Namespace) -> int:
    """Print the current state of every check, from the store."""
    settings = _settings(args)
    if _no_store(settings, "status"):
        return EXIT_INVALID
    states = asyncio.run(_status(settings, args.device))
    if args.format == "json":
        out = []
        for s in states:
            last = s.snapshot.last_result
            out.append({"device": s.key.device_id, "check": s.key.check, "site": s.site_id,
                        "kind": s.device_kind, "state": s.snapshot.state.value,
                        "since": _when(s.snapshot.since) or None,
                        "flapping": s.snapshot.flapping,
                        "last_run": _when(s.snapshot.last_run_at) or None,
                        "last": last.to_json() if last else None})
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    rows = []
    for s in states:
        last = s.snapshot.last_result
        rows.append((s.site_id, s.key.device_id, s.key.check,
                     s.snapshot.state.value + (" (flapping)" if s.snapshot.flapping else ""),
                     _when(s.snapshot.since), last.status.value if last else "",
                     last.detail if last else ""))
    print(_table(("SITE", "DEVICE", "CHECK", "STATE", "SINCE", "LAST", "DETAIL"), rows))
    return 0


async def _baseline(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.store.store import Store
    store = await Store.open(settings.database_url, CLI_BUSY_TIMEOUT_S)
    try:
        states = [s for s in await store.states(args.device)
                  if args.check is None or s.key.check == args.check]
        if args.action == "show":
            rows = []
            for s in states:
                for mode, b in sorted(s.snapshot.learned.items()):
                    if not isinstance(b, dict):
                        continue
                    chroma = b.get("chroma")
                    rows.append((s.key.device_id, s.key.check, mode, str(b.get("samples")),
                                 f"{b.get('luma', 0):.0f}", f"{b.get('sharpness', 0):.2f}",
                                 f"{b.get('occlusion', 0):.0%}",
                                 "grey" if not chroma else f"{chroma[0]:+.2f} {chroma[1]:+.2f}"))
            print(_table(("DEVICE", "CHECK", "TIME", "SAMPLES", "LUMA", "SHARPNESS",
                          "FLAT", "COLOUR (a b)"), rows))
            return 0
        if not args.device:
            print("monitor baseline reset: give --device (and --check for one check)",
                  file=sys.stderr)
            return EXIT_INVALID
        if not states:
            what = f"{args.device}/{args.check}" if args.check else args.device
            print(f"monitor baseline reset: no check {what} in the store", file=sys.stderr)
            return EXIT_INVALID
        await store.request_forget(args.device, args.check, datetime.now(UTC))
    finally:
        await store.close()
    print(f"{args.device}: the baseline of {args.check or 'every check'} will be learned "
          f"again from its next samples (the daemon takes the request within "
          f"{settings.state_flush_interval:g} s, or at its next start)")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """Show what the video checks learned of their cameras' pictures, or forget it."""
    settings = _settings(args)
    if _no_store(settings, "baseline"):
        return EXIT_INVALID
    return asyncio.run(_baseline(settings, args))


ACTIONS = ("ack", "onsite", "solution", "resolve", "close", "reopen", "comment", "pause",
           "resume")


def _deadlines(settings: Settings, args: argparse.Namespace) -> int:
    """The deadlines a ticket reported at --at would get."""
    import datetime as dt

    from monitor.faults.levels import FaultLevel
    from monitor.inventory import InventoryError, load_inventory
    from monitor.inventory.loader import unknown_region
    from monitor.tickets import text
    zone, lang = settings.sla.zone, settings.language
    if args.level is None or args.region is None:
        print("monitor tickets deadlines: give --level (1-4) and --region", file=sys.stderr)
        return EXIT_INVALID
    try:
        regions = load_inventory(settings.inventory).regions
    except InventoryError:
        regions = ()  # the question still has an answer without the inventory
    if regions and args.region not in regions:
        print(f"monitor tickets deadlines: {unknown_region(args.region, regions)}",
              file=sys.stderr)
        return EXIT_INVALID
    try:
        at = dt.datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    except ValueError:
        print(f"monitor tickets deadlines: --at wants an ISO time (2026-12-25T10:00), "
              f"not {args.at!r}", file=sys.stderr)
        return EXIT_INVALID
    at = at if at.tzinfo else at.replace(tzinfo=zone)
    level = FaultLevel(args.level)
    due = settings.sla.deadlines(level, args.region, at)
    calendar = settings.sla.calendar
    years = range(at.astimezone(zone).year, due["repair"].astimezone(zone).year + 1)
    sources = {str(y): calendar.source(y).value for y in years}
    if args.format == "json":
        print(json.dumps({"level": int(level), "region": args.region,
                          "at": at.astimezone(UTC).isoformat(),
                          "deadlines": {c: d.astimezone(UTC).isoformat()
                                        for c, d in due.items()},
                          "calendar": sources}, indent=2, ensure_ascii=False))
        return 0
    words = text.WORDS[lang]
    rows = [(words["clocks"][c], d.astimezone(zone).strftime("%Y-%m-%d %H:%M %a"),
             _span(d - at)) for c, d in due.items()]
    print(f"{text.level_text(int(level), lang)} · {args.region} · "
          f"{at.astimezone(zone):%Y-%m-%d %H:%M %a}")
    print(_table(("CLOCK", "DUE", "IN"), rows))
    for year, source in sources.items():
        if source == "fallback":
            print(f"note: no holiday data for {year}: Monday-Friday assumed to be working "
                  f"days (add {year} to the holidays file)", file=sys.stderr)
    return 0


def _span(delta: Any) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return " ".join(p for p in (f"{days}d" if days else "", f"{hours}h" if hours else "",
                                f"{mins}m" if mins else "") if p) or "0m"


async def _tickets(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.store.store import Store
    from monitor.tickets import text
    from monitor.tickets.query import TicketQuery, search
    from monitor.tickets.store import ACTIVE, TicketError, TicketStore
    store = await Store.open(settings.database_url, CLI_BUSY_TIMEOUT_S)
    zone, lang = settings.sla.zone, settings.language
    tickets = TicketStore(store, settings.sla, settings.reopen_window)
    try:
        if args.action == "list":
            states = {"active": ACTIVE, "all": None}.get(args.state, (args.state,))
            query = TicketQuery(states=states, site=args.site, region=args.region,
                                level=args.level, engineer=args.engineer,
                                breached=args.breached, limit=args.limit)
            page = await search(store, query)  # the console's and the API's search
            found = page.items
            if page.total > len(found):
                print(f"({len(found)} of {page.total}: --limit shows more)", file=sys.stderr)
            if args.format == "json":
                print(json.dumps([text.to_json(t) for t in found], indent=2,
                                 ensure_ascii=False))
            else:
                print(_table(tuple(text.WORDS[lang]["header"]),
                             [text.row(t, lang, zone) for t in found]))
            return 0
        if args.action == "show":
            ticket = await tickets.get(args.number)
            if ticket is None:
                print(f"monitor tickets: no ticket {args.number}", file=sys.stderr)
                return EXIT_INVALID
        else:
            refused = await _actor_refused(store, args.by, args.action)
            if refused:
                print(f"monitor tickets: {refused}", file=sys.stderr)
                return EXIT_INVALID
            try:
                ticket = await tickets.act(args.number, args.action, args.by, args.note or "",
                                           confirmation=args.confirmation)
            except TicketError as exc:
                print(f"monitor tickets: {exc}", file=sys.stderr)
                return EXIT_INVALID
        if args.format == "json":
            print(json.dumps(text.to_json(ticket), indent=2, ensure_ascii=False))
        else:
            print(text.card(ticket, lang, zone))
        return 0
    finally:
        await store.close()


async def _actor_refused(store: Any, by: str, action: str) -> str | None:
    """Once the desk has users, `--by` names one whose role may take `action` (as in
    the console); before any exist, any name is taken as before."""
    from monitor.access.roles import may_act
    from monitor.access.users import UserStore
    users = UserStore(store)
    if not await users.users():
        return None
    user = await users.get(by)
    if user is None or user.disabled:
        return f"--by {by}: not a service-desk user (monitor users list)"
    if not may_act(user.grants, action):
        return f"{by} ({user.role.value}) may not {action} a ticket"
    return None


def cmd_tickets(args: argparse.Namespace) -> int:
    """List, show and work service tickets; the deadlines a ticket would get."""
    if args.action == "deadlines":
        return _deadlines(_settings(args), args)
    return asyncio.run(_tickets(_settings(args), args))


def cmd_calendar(args: argparse.Namespace) -> int:
    """Where each year's working days come from; a year's days off and make-up days."""
    from monitor.tickets.calendar import PACKAGE_YEARS, Source
    settings = _settings(args)
    calendar = settings.sla.calendar
    today = datetime.now(UTC).astimezone(settings.sla.zone).date()
    names = {Source.FILE: f"holidays file {settings.sla.holidays_file}",
             Source.PACKAGE: f"chinesecalendar {PACKAGE_YEARS.start}-{PACKAGE_YEARS.stop - 1}",
             Source.FALLBACK: "none: Monday-Friday assumed"}
    if args.year is None:
        until = calendar.covered_until(today)
        years = range(today.year - 1, max(today.year, until.year if until else 0) + 3)
        if args.format == "json":
            print(json.dumps({
                "holidays_file": str(settings.sla.holidays_file or "") or None,
                "covered_until": until.isoformat() if until else None,
                "days_left": calendar.days_covered(today),
                "years": {str(y): [s.value for s in calendar.sources(y)] for y in years}},
                indent=2, ensure_ascii=False))
            return 0
        print("holidays file: "
              f"{settings.sla.holidays_file or 'none (settings: sla.holidays_file)'}")
        rows = []
        for y in years:
            special = list(calendar.special_days(y))
            rows.append((str(y), " + ".join(names[s] for s in calendar.sources(y)),
                         str(sum(not d.working for d in special)),
                         str(sum(d.working for d in special))))
        print(_table(("YEAR", "SOURCE", "DAYS OFF", "MAKE-UP DAYS"), rows))
        print(f"covered until: {until or 'nothing covers ' + str(today.year)}"
              f" ({calendar.days_covered(today)} days from today)")
        warning = settings.sla.coverage_warning(datetime.now(UTC))
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        return 0
    days = list(calendar.special_days(args.year))
    if args.format == "json":
        print(json.dumps({
            "year": args.year, "sources": [s.value for s in calendar.sources(args.year)],
            "notice": calendar.notice(args.year) or None,
            "days": [{"date": d.date.isoformat(), "working": d.working, "name": d.name,
                      "source": d.source.value} for d in days]}, indent=2, ensure_ascii=False))
        return 0
    print(f"{args.year}: " + " + ".join(names[s] for s in calendar.sources(args.year))
          + (f" ({calendar.notice(args.year)})" if calendar.notice(args.year) else ""))
    print(_table(("DATE", "DAY", "", "NAME", "SOURCE"),
                 [(d.date.isoformat(), f"{d.date:%a}", "working" if d.working else "off",
                   d.name, d.source.value) for d in days]))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the monthly inspection report (HTML and CSV)."""
    from monitor.faults.maintenance import MaintenanceWindow
    from monitor.inventory import InventoryError, load_inventory
    from monitor.report import write_report
    settings = _settings(args)
    try:
        year, month = (int(x) for x in args.month.split("-"))
        if not 1 <= month <= 12:
            raise ValueError
    except ValueError:
        print(f"monitor report: --month wants YYYY-MM, not {args.month!r}", file=sys.stderr)
        return EXIT_INVALID
    windows: tuple[MaintenanceWindow, ...] = ()
    devices = regions = None
    if Path(settings.inventory).exists():
        try:
            inventory = load_inventory(settings.inventory, secrets=False)
        except InventoryError as exc:
            print(f"monitor report: {exc}", file=sys.stderr)
            return EXIT_INVALID
        windows = inventory.maintenance
        devices = {d.id: (d.site, d.kind.value) for d in inventory.devices.values()}
        regions = {s.id: s.region for s in inventory.sites.values()}
    else:
        print(f"monitor report: no inventory at {settings.inventory}: no maintenance "
              "windows are taken out", file=sys.stderr)
    paths = asyncio.run(write_report(settings, year, month, Path(args.output),
                                     windows=windows, devices=devices, regions=regions))
    for path in paths:
        print(path)
    return 0


def cmd_duty(args: argparse.Namespace) -> int:
    """Who is on duty (at a time), and who comes next."""
    from monitor import wiring  # (the root: the core never imports alerts)
    return wiring.duty(args)


def cmd_assets(args: argparse.Namespace) -> int:
    """Write the Grafana dashboards and provisioning and the Prometheus rules to a folder."""
    from importlib.resources import files
    out = Path(args.output)
    root = files("exporters")
    written = 0
    for folder in ("grafana", "prometheus"):
        stack = [(root / folder, out / folder)]
        while stack:
            source, target = stack.pop()
            for entry in source.iterdir():
                if entry.is_dir():
                    stack.append((entry, target / entry.name))
                elif entry.name.endswith((".json", ".yaml", ".yml")):
                    target.mkdir(parents=True, exist_ok=True)
                    (target / entry.name).write_bytes(entry.read_bytes())
                    print(target / entry.name)
                    written += 1
    return 0 if written else EXIT_INVALID


def cmd_ack_token(args: argparse.Namespace) -> int:
    """Print a person token: it acknowledges any ticket as that person over MQTT."""
    from monitor import wiring  # (the root: the core never imports alerts)
    return wiring.ack_token(args)


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``monitor``."""
    p = argparse.ArgumentParser(prog="monitor", description=__doc__)
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an error instead of one line")
    p.add_argument("--settings", metavar="FILE",
                   help="settings file (TOML); default $MONITOR_SETTINGS or "
                        "/etc/monitor/monitor.toml if present")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--inventory", metavar="FILE")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate an inventory file")
    check.add_argument("file", nargs="?", help="default: the configured inventory")
    check.set_defaults(func=cmd_check)

    schema = sub.add_parser("schema", help="print the JSON Schema of inventory.yaml")
    schema.add_argument("--output", "-o", metavar="FILE")
    schema.set_defaults(func=cmd_schema)

    once = sub.add_parser("once", help="run the checks once now and print the results")
    once.add_argument("--inventory", metavar="FILE")
    once.add_argument("--device", metavar="ID")
    once.add_argument("--check", metavar="NAME")
    once.add_argument("--format", choices=("table", "json"), default="table")
    once.set_defaults(func=cmd_once)

    status = sub.add_parser("status", help="current state of every check, from the store")
    status.add_argument("--device", metavar="ID")
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.set_defaults(func=cmd_status)

    tickets = sub.add_parser("tickets", help="service tickets: list, show, ack, onsite, ...")
    tickets.add_argument("action", choices=("list", "show", "deadlines", *ACTIONS))
    tickets.add_argument("number", nargs="?", help="the ticket (all but list, deadlines)")
    tickets.add_argument("--state", default="active",
                         help="list: active (default), all, open, acknowledged, onsite, "
                              "resolved, closed")
    tickets.add_argument("--by", default=os.environ.get("USER", "engineer"),
                         help="who takes the action (default: $USER)")
    tickets.add_argument("--note", help="what was done or said")
    tickets.add_argument("--confirmation", help="close: the customer's confirmation")
    tickets.add_argument("--format", choices=("table", "json"), default="table")
    tickets.add_argument("--level", type=int, choices=(1, 2, 3, 4),
                         help="list: only this level; deadlines: the fault level")
    tickets.add_argument("--region", help="list: only this region; deadlines: the site's "
                                          "region")
    tickets.add_argument("--site", help="list: only this site")
    tickets.add_argument("--engineer", help="list: only this engineer's")
    tickets.add_argument("--breached", action="store_true",
                         help="list: only tickets with a clock that ran out")
    tickets.add_argument("--limit", type=int, default=500, help="list: at most this many")
    tickets.add_argument("--at", metavar="TIME",
                         help="deadlines: when the fault is reported (ISO; default now)")
    tickets.set_defaults(func=cmd_tickets)

    calendar = sub.add_parser("calendar", help="working days: where each year's come from, "
                              "a year's days off and make-up days")
    calendar.add_argument("--year", type=int)
    calendar.add_argument("--format", choices=("table", "json"), default="table")
    calendar.set_defaults(func=cmd_calendar)

    duty = sub.add_parser("duty", help="who is on duty now (or --at), and who is next")
    duty.add_argument("--at", metavar="TIME", help="ISO time, e.g. 2026-12-04T17:05")
    duty.set_defaults(func=cmd_duty)

    assets = sub.add_parser("assets", help="write the Grafana dashboards and provisioning "
                            "and the Prometheus rules to a folder")
    assets.add_argument("--output", "-o", required=True, metavar="DIR")
    assets.set_defaults(func=cmd_assets)

    report = sub.add_parser("report", help="the monthly inspection report (HTML and CSV)")
    report.add_argument("--month", required=True, metavar="YYYY-MM")
    report.add_argument("--output", "-o", default=".", metavar="DIR")
    report.set_defaults(func=cmd_report)

    baseline = sub.add_parser("baseline", help="what video checks learned of their "
                              "cameras' normal pictures: show, or reset to learn it again "
                              "(a camera re-aimed or replaced)")
    baseline.add_argument("action", choices=("show", "reset"))
    baseline.add_argument("--device", metavar="ID")
    baseline.add_argument("--check", metavar="NAME")
    baseline.set_defaults(func=cmd_baseline)

    access_commands.add_parsers(sub)
    parts_commands.add_parser(sub)
    cluster_commands.add_parser(sub)
    topology_commands.add_parser(sub)
    store_commands.add_parsers(sub)
    token = sub.add_parser("ack-token", help="a person's token for acknowledging over MQTT")
    token.add_argument("person", help="the roster's id of the person")
    token.add_argument("--ttl", default="90d", help="how long it is valid (default 90d)")
    token.set_defaults(func=cmd_ack_token)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``monitor`` console script."""
    p = parser()
    args = p.parse_args(argv)
    if args.command == "tickets" and args.action not in ("list", "deadlines") \
            and not args.number:
        p.error(f"tickets {args.action} needs a ticket number")
    if args.command in ("users", "tokens") and (lack := access_commands.missing(args)):
        p.error(lack)
    if args.command == "parts" and (lack := parts_commands.missing(args)):
        p.error(lack)
    try:
        code: int = args.func(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        unavailable = _unavailable(exc, args)
        text = " ".join(str(exc).split())[:400] or type(exc).__name__
        if unavailable is None and isinstance(exc, OSError) and exc.filename:
            print(f"monitor {args.command}: {exc.filename}: {exc.strerror}", file=sys.stderr)
            return EX_IOERR
        if unavailable:
            print(f"monitor {args.command}: {unavailable}: {text}", file=sys.stderr)
            return EX_UNAVAILABLE
        print(f"monitor {args.command}: {type(exc).__name__}: {text} (--debug shows where)",
              file=sys.stderr)
        return EX_SOFTWARE
    return code


def _unavailable(exc: BaseException, args: argparse.Namespace) -> str | None:
    """What could not be reached, when `exc` says something could not be."""
    import socket

    from sqlalchemy.exc import DBAPIError, OperationalError
    try:
        url = redacted(_settings(args).database_url)
    except Exception:  # the settings themselves are the problem: say less
        url = "the database"
    chain: list[BaseException] = []
    while exc is not None and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    if any(isinstance(e, OperationalError | DBAPIError) for e in chain):
        return f"database {url}"
    if any(isinstance(e, ConnectionError | TimeoutError | socket.gaierror) for e in chain):
        return f"cannot connect (database {url})"
    if any(type(e).__module__.startswith("asyncpg") for e in chain):
        return f"database {url}"
    return None


if __name__ == "__main__":
    sys.exit(main())
