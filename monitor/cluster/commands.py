"""``monitor cluster``: the nodes, the leader and each node's share, from the store."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from sqlalchemy import text

from monitor.cluster.members import forget, members
from monitor.columns import table
from monitor.settings import ClusterSettings, load_settings
from monitor.store.store import Store


async def _status(store: Store, dead_after: float, as_json: bool) -> int:
    nodes = await members(store, dead_after)
    async with store.engine.connect() as conn:
        lease = (await conn.execute(text(
            "SELECT holder, epoch, expires_at, expires_at > clock_timestamp() AS valid "
            "FROM cluster_lease WHERE name = 'leader'"))).first()
        now = (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()
    leader = lease.holder if lease is not None and lease.valid else None
    if as_json:
        print(json.dumps({
            "leader": leader, "epoch": lease.epoch if lease else None,
            "lease_expires": lease.expires_at.isoformat() if lease else None,
            "nodes": [{"id": m.id, "host": m.host, "pid": m.pid, "version": m.version,
                       "alive": m.alive, "pins": list(m.pins), "leader": m.id == leader,
                       "heartbeat_age_s": round((now - m.heartbeat_at).total_seconds(), 1),
                       "started": m.started_at.isoformat(), **dict(m.status)}
                      for m in nodes]}, ensure_ascii=False, indent=2, default=str))
        return 0
    if lease is None:
        print("leader: none yet (no node has led)")
    else:
        left = (lease.expires_at - now).total_seconds()
        print(f"leader: {lease.holder if leader else 'none'} (epoch {lease.epoch}, lease "
              + (f"{left:.1f}s left)" if leader else
                 f"of {lease.holder} ran out {-left:.1f}s ago)"))
    rows = []
    for m in nodes:
        lag = m.status.get("lag_p99_s")
        rows.append((m.id, "alive" if m.alive else "DEAD",
                     "leader" if m.id == leader else "", f"{m.host}:{m.pid}",
                     f"{(now - m.heartbeat_at).total_seconds():.1f}s",
                     ",".join(m.pins) or "-", m.status.get("checks", ""),
                     f"{lag:.2f}s" if isinstance(lag, (int, float)) else "-",
                     _or_dash(m.status.get("buffered")), m.version))
    print(table(("NODE", "STATE", "ROLE", "HOST:PID", "HEARTBEAT", "PINS", "CHECKS",
                 "LAG P99", "BUFFERED", "VERSION"), rows))
    dead = [m for m in nodes if not m.alive and m.pins]
    for m in dead:
        print(f"note: {m.id} is pinned to {', '.join(m.pins)} and dead: those sites are "
              "not polled until it returns (monitor cluster forget "
              f"{m.id} if it is gone for good)", file=sys.stderr)
    return 0


async def _cluster(args: argparse.Namespace) -> int:
    settings = load_settings(args.settings)
    if not settings.database_url.startswith("postgresql"):
        print("monitor cluster: the store is SQLite: a single daemon, no cluster (a "
              "cluster needs PostgreSQL)", file=sys.stderr)
        return 1
    store = await Store.open(settings.database_url, 5.0)
    try:
        dead_after = (settings.cluster or ClusterSettings()).dead_after
        if args.action == "status":
            return await _status(store, dead_after, args.json)
        if not args.node:
            print("monitor cluster forget: which node?", file=sys.stderr)
            return 2
        if any(m.id == args.node and m.alive for m in await members(store, dead_after)):
            print(f"monitor cluster forget: {args.node} is alive; stop it first",
                  file=sys.stderr)
            return 1
        if not await forget(store, args.node):
            print(f"monitor cluster forget: no node {args.node}", file=sys.stderr)
            return 1
        print(f"forgot {args.node}")
        return 0
    finally:
        await store.close()


def cmd_cluster(args: argparse.Namespace) -> int:
    """``monitor cluster status|forget``."""
    return asyncio.run(_cluster(args))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cluster`` to the ``monitor`` command's subcommands."""
    cluster = sub.add_parser("cluster", help="the cluster's nodes, leader, epoch and shares; "
                                             "forget a node gone for good")
    cluster.add_argument("action", choices=("status", "forget"))
    cluster.add_argument("node", nargs="?", help="forget: the node's id")
    cluster.add_argument("--json", action="store_true", help="status: as JSON")
    cluster.set_defaults(func=cmd_cluster)



def _or_dash(value: object) -> object:
    return "-" if value is None else value
