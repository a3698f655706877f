"""The composition root's commands and checks: what the CLI and the daemon need from
the readers (the roster and signed links of `alerts`), wired here so that the rest of
the core never imports them (`tests/test_layers.py`).  With `monitor.daemon`, the root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from alerts.roster import RosterError, load_roster
from monitor.cli import EXIT_INVALID, _settings
from monitor.inventory import Inventory
from monitor.settings import Settings


def duty(args: argparse.Namespace) -> int:
    """Who is on duty (at a time), and who comes next."""
    from monitor.inventory import InventoryError, load_inventory
    settings = _settings(args)
    if settings.alerts.roster is None:
        print("monitor duty: no roster configured (alerts.roster in the settings)",
              file=sys.stderr)
        return EXIT_INVALID
    try:
        roster = load_roster(settings.alerts.roster, settings.sla.calendar)
    except RosterError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    at = dt.datetime.now(dt.UTC)
    if args.at:
        at = dt.datetime.fromisoformat(args.at)
        at = at if at.tzinfo else at.replace(tzinfo=roster.zone)
    try:
        events = load_inventory(settings.inventory).major_events
    except InventoryError:
        events = ()
    order = roster.duty(at, events)
    zh = settings.language == "zh"
    local = at.astimezone(roster.zone).strftime("%Y-%m-%d %H:%M %a")
    print(f"{'时间' if zh else 'at'}: {local}"
          + (f" ({'办公时间' if zh else 'office hours'})" if roster.office_hours(at) else "")
          + (f" ({'重大活动' if zh else 'major event'})" if any(e.active(at) for e in events)
             else ""))
    for i, person in enumerate(order):
        role = ("值班" if zh else "on duty") if i == 0 else (
            f"{'升级' if zh else 'then'} {i}")
        channels = ", ".join(roster.channels(person, at))
        print(f"  {role}: {roster.people[person].name} ({person}) — {channels}")
    return 0


def roster_people(settings: Settings) -> dict[str, tuple[str, bool]]:
    """The roster's people: id → (name, a supervisor?); `RosterError` if it is missing
    or invalid."""
    if settings.alerts.roster is None:
        raise RosterError("the settings name no roster (alerts.roster)")
    roster = load_roster(settings.alerts.roster)
    return {key: (person.name, key in roster.supervisors)
            for key, person in roster.people.items()}


def ack_token(args: argparse.Namespace) -> int:
    """Print a person token: it acknowledges any ticket as that person over MQTT."""
    from pydantic import TypeAdapter, ValidationError

    from alerts.links import make_person_token
    from monitor.inventory.secrets import SecretError
    from monitor.vocab import Duration
    settings = _settings(args)
    cfg = settings.alerts
    if cfg.link_secret is None:
        print("monitor ack-token: no link secret configured (alerts.link_secret)",
              file=sys.stderr)
        return EXIT_INVALID
    try:
        ttl = TypeAdapter(Duration).validate_python(args.ttl)
        secret = cfg.link_secret.resolve().encode()
        if cfg.roster is not None and args.person not in load_roster(cfg.roster).people:
            print(f"monitor ack-token: {args.person!r} is not in the roster {cfg.roster}",
                  file=sys.stderr)
            return EXIT_INVALID
    except ValidationError as exc:
        print(f"monitor ack-token: --ttl {args.ttl!r}: {exc.errors()[0]['msg']}",
              file=sys.stderr)
        return EXIT_INVALID
    except (SecretError, RosterError) as exc:
        print(f"monitor ack-token: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(make_person_token(secret, args.person, ttl))
    return 0


def inventory_problems(settings: Settings, old: Inventory | None, new: Inventory,
                       force: bool = False) -> list[str]:
    """Why `new` must not be run (in place of `old`): `shrink_problem`, then
    `config_problems`."""
    if shrunk := shrink_problem(settings, old, new, force):
        return [shrunk]
    return config_problems(settings, new)


def shrink_problem(settings: Settings, old: Inventory | None, new: Inventory,
                   force: bool = False) -> str | None:
    """Why `new` must not replace `old`: no devices at all (unless the settings allow
    it), or -- unless forced -- fewer than half of the devices before.  A truncated
    file must not silently stop the monitoring of the province."""
    if not new.devices and not settings.allow_empty_inventory:
        return (f"{new.path}: no devices: refusing to monitor nothing (a truncated or "
                "empty file?); set allow_empty_inventory = true if that is meant")
    if old is not None and not force and len(new.devices) < len(old.devices) / 2:
        gone = len(old.devices) - len(new.devices)
        return (f"{new.path}: drops {gone} of {len(old.devices)} devices (more than half; "
                "a truncated file?); to apply it anyway: systemctl kill -s USR1 sv-monitor")
    return None


def config_problems(settings: Settings, inventory: Inventory) -> list[str]:
    """What does not fit between the settings, the roster and the inventory: regions
    unknown to either; fault rules that name a reason no result carries."""
    regions = inventory.regions
    problems = settings.sla.unknown_regions(regions)
    own = frozenset(t.reason for _, check in inventory.checks()
                    for t in check.thresholds.values() if t.reason)
    problems += [f"settings: {p}" for p in settings.faults.unknown_reasons(own)]
    if settings.alerts.roster is not None:
        try:
            roster = load_roster(settings.alerts.roster)
        except RosterError as exc:
            problems.append(str(exc))
        else:
            problems += [f"{settings.alerts.roster}: {p}" for p in roster.unknown_regions(regions)]
    return problems
