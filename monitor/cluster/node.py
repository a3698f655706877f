"""This daemon as one node of a cluster: its heartbeats, its share, its leadership.

`Node` runs two loops beside the daemon's:
- the heartbeat (every ``heartbeat``): renew this node's row and read the members; when
  the live members (or their pins) change, the shares are computed again and handed to
  `on_shares` -- the daemon then polls its new share (`monitor.cluster.share`);
- the lease (every third of ``lease``): take or renew the leader lease.  Won, this node
  decides (`on_lead` with its epoch: the fault engine, tickets, SLA clocks, alerts);
  lost -- another node holds it, or no renewal has succeeded for three quarters of the
  lease -- it stops deciding at once (`on_step_down`), before the lease can run out
  in the database and a standby take it.  Every decision write is fenced with the
  epoch besides (`guard`), so a leader that stalls past its lease is refused.

No device is polled by two nodes at once:
- a node that cannot reach the database for ``dead_after`` is taken for dead by the
  others, which take over its share; it stops polling just before they can
  (`_arm_silence`; its results could not be stored anyway, and nobody could decide
  on them), unless it is a remote poller, which keeps them in its buffer;
- a node that arrives, or comes back, counts itself in the shares only once every
  other live node has beaten since (`_as_seen`): they give up its share at their next
  heartbeat, it takes it up at its next one after theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.cluster.lease import ClusterError, Fenced, Lease, Term, fence
from monitor.cluster.members import Member, Membership
from monitor.cluster.share import Shares
from monitor.health import Health
from monitor.settings import ClusterSettings
from monitor.store.store import Store

log = logging.getLogger("monitor.cluster")
HEALTH = "cluster"
STEP_DOWN_AT = 0.75  # of the lease since the last renewal began
# a heartbeat stamped this long after a node's arrival has read the members with it
SEEN_AFTER = dt.timedelta(seconds=1)
# a node cut off stops polling this long before the others can take its share
SILENCE_MARGIN_S = 0.5


class Node:
    """One node's membership and leadership."""

    def __init__(self, store: Store, cfg: ClusterSettings, health: Health, *,
                 on_shares: Callable[[Shares], Coroutine[Any, Any, None]],
                 on_lead: Callable[[int], Awaitable[None]],
                 on_step_down: Callable[[], None],
                 status: Callable[[], Mapping[str, Any]] = dict) -> None:
        self.id, self.cfg, self.health = cfg.node_id, cfg, health
        self.membership = Membership(store, cfg.node_id, tuple(cfg.pins), cfg.dead_after)
        self.lease = Lease(store, cfg.node_id, cfg.lease)
        self.on_shares, self.on_lead, self.on_step_down = on_shares, on_lead, on_step_down
        self.status = status
        self.members: list[Member] = []
        self.shares: Shares | None = None
        self.term: Term | None = None  # while this node leads
        self.leader_changes = 0  # times this node became leader
        self.last_beat: float | None = None  # loop time of the last heartbeat that took
        self._renewed: float | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._since: dt.datetime | None = None  # arrived or came back (database clock)
        self._silence: asyncio.TimerHandle | None = None
        self._applying: asyncio.Task[None] | None = None
        health.add(HEALTH, critical=False)

    @property
    def epoch(self) -> int | None:
        """The epoch this node decides under (None: it does not lead)."""
        return self.term.epoch if self.term is not None else None

    @property
    def leading(self) -> bool:
        """Whether this node decides now."""
        return self.term is not None

    async def guard(self, conn: AsyncConnection) -> None:
        """In a decision write's transaction: `Fenced` unless this node still leads
        under its epoch."""
        if self.term is None:
            raise Fenced(f"node {self.id} does not lead")
        await fence(conn, self.term.epoch)

    async def join(self) -> None:
        """Register and read the members once (the first share); `ClusterError` if the
        id is taken by a live node."""
        await self.membership.join()
        await self._beat()

    async def run(self) -> None:
        """The heartbeat and the lease, until cancelled (the lease is released then)."""
        tasks = [asyncio.create_task(self._heartbeats(), name="cluster heartbeat"),
                 asyncio.create_task(self._leadership(), name="cluster lease")]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.leave()

    async def leave(self) -> None:
        """A clean stop: stop deciding, hand the lease and the share to the others."""
        term = self.term
        self._step_down("stopping")
        with contextlib.suppress(Exception):
            if term is not None:
                await asyncio.wait_for(self.lease.release(term), 5)
            await asyncio.wait_for(self.membership.leave(), 5)

    # -- membership --

    async def _heartbeats(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.cfg.heartbeat)
                try:
                    await asyncio.wait_for(self._beat(), self.cfg.heartbeat)
                except Exception as exc:
                    self.health.failed(HEALTH, f"heartbeat: {exc!r}")
                else:
                    self.health.ok(HEALTH, self._summary())
        finally:
            if self._silence is not None:
                self._silence.cancel()

    async def _beat(self) -> None:
        began = asyncio.get_running_loop().time()
        try:
            members = await self.membership.beat(self.status())
        except ClusterError as exc:
            log.warning("this node's row was gone: joining again",
                        extra={"fields": {"node": self.id, "why": str(exc)}})
            self._since = None
            await self.membership.join()
            members = await self.membership.beat(self.status())
        self.last_beat = asyncio.get_running_loop().time()
        self.members = members
        self._arm_silence(began)
        shares = Shares.of(self._as_seen(members))
        if shares != self.shares:
            self.shares = shares
            log.info("cluster members changed", extra={"fields": {
                "alive": [m.id for m in members if m.alive],
                "dead": [m.id for m in members if not m.alive],
                "orphaned_pins": shares.orphaned()}})
            await self.on_shares(shares)

    def _as_seen(self, members: list[Member]) -> list[Member]:
        """The members as this node may poll by them: itself alive only once every
        other live node has beaten since it arrived (or came back), and so has read it;
        until then they still poll its share, and it polls nothing of theirs."""
        me = next((m for m in members if m.id == self.id), None)
        if me is None:
            return members
        if self._since is None:
            self._since = me.heartbeat_at
        unaware = [m.id for m in members if m.alive and m.id != self.id
                   and m.heartbeat_at < self._since + SEEN_AFTER]
        if not unaware:
            return members
        log.info("waiting for the other nodes to see this one before polling its share",
                 extra={"fields": {"node": self.id, "waiting_for": unaware}})
        return [dataclasses.replace(m, alive=False) if m.id == self.id else m
                for m in members]

    def _arm_silence(self, began: float) -> None:
        """Stop polling just before the others could take this node for dead, unless
        a heartbeat taken meanwhile moves the moment on (`began`: the loop time before
        the last one that was taken, which the database stamped later)."""
        if self._silence is not None:
            self._silence.cancel()
        loop = asyncio.get_running_loop()
        self._silence = loop.call_at(began + self.cfg.dead_after - SILENCE_MARGIN_S,
                                     self._cut_off)

    def _cut_off(self) -> None:
        self._silence = None
        if self.shares is None:
            return
        if self.cfg.pins:  # a remote poller keeps polling into its buffer...
            shares = Shares.of(self.members)
            if shares != self.shares:  # ...and stops waiting to be seen: the others
                # have beaten since its row was written (a heartbeat < dead_after), so
                # they have read its pins, and poll none of them, dead or alive
                log.warning("cut off from the database before the other nodes were seen "
                            "to see this one: polling its pinned sites",
                            extra={"fields": {"node": self.id}})
                self.shares = shares
                self._applying = asyncio.create_task(self.on_shares(shares),
                                                     name="share taken up")
            return
        # (even when it saw no other node: one may have started since, unseen)
        log.error("cut off from the database: the other nodes poll this node's share now",
                  extra={"fields": {"node": self.id}})
        self._since = None  # back, it waits for the others to see it again
        self.shares = Shares((), {}, {})
        self._applying = asyncio.create_task(self.on_shares(self.shares),
                                             name="share dropped")

    def silent(self) -> bool:
        """Whether the database has not taken this node's heartbeat for a while (a
        remote poller then says it is alive over MQTT: `relay.Uplink`)."""
        last = self.last_beat
        return last is None or (
            asyncio.get_running_loop().time() - last > 1.5 * self.cfg.heartbeat)

    def beat_elsewhere(self) -> dict[str, Any]:
        """This node's heartbeat as sent another way than the database."""
        return {"host": self.membership.host, "pid": self.membership.pid,
                "status": dict(self.status())}

    def figures(self, checks: int, buffered: tuple[int, int] | None = None
                ) -> dict[str, Any]:
        """What `/metrics` says of this node (`checks`: those it polls; `buffered`: a
        remote poller's results waiting and dropped)."""
        last = self.last_beat
        return {"id": self.id, "pins": list(self.cfg.pins), "leading": self.leading,
                "buffered": buffered,
                "epoch": self.epoch, "leader_changes": self.leader_changes,
                "checks": checks, "alive": sum(1 for m in self.members if m.alive),
                "dead": sum(1 for m in self.members if not m.alive),
                "heartbeat_age_s": None if last is None
                else asyncio.get_running_loop().time() - last}

    def _summary(self) -> str:
        alive = sum(1 for m in self.members if m.alive)
        role = f"leader (epoch {self.epoch})" if self.leading else "standby"
        return f"{self.id}: {role}, {alive} of {len(self.members)} nodes alive"

    # -- leadership --

    async def _leadership(self) -> None:
        if self.cfg.pins:
            return  # a pinned node polls its sites; it never leads (it may be far away)
        loop = asyncio.get_running_loop()
        every = self.cfg.lease / 3
        while True:
            began = loop.time()
            try:
                term = await asyncio.wait_for(self.lease.hold(), every)
            except Exception as exc:
                if self.leading:
                    log.warning("lease renewal failed", extra={"fields": {
                        "node": self.id, "error": repr(exc)}})
                term = None
                failed = True
            else:
                failed = False
            if term is not None:
                self._renewed = began
                self._arm(began)
                if self.term is None or self.term.epoch != term.epoch:
                    self.term = term
                    self.leader_changes += 1
                    log.warning("this node leads now", extra={"fields": {
                        "node": self.id, "epoch": term.epoch}})
                    try:
                        await self.on_lead(term.epoch)
                    except Exception:
                        log.exception("starting to decide failed; stepping down")
                        await self._give_up()
                else:
                    self.term = term
            elif self.leading and not failed:
                self._step_down("another node holds the lease")
            await asyncio.sleep(max(0.0, began + every - loop.time()))

    def _arm(self, began: float) -> None:
        """Step down at `began` + 3/4 of the lease unless renewed before."""
        if self._deadline is not None:
            self._deadline.cancel()
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_at(began + self.cfg.lease * STEP_DOWN_AT,
                                      self._step_down, "the lease could not be renewed")

    def _step_down(self, why: str) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self.term is None:
            return
        log.warning("this node no longer leads", extra={"fields": {
            "node": self.id, "epoch": self.term.epoch, "why": why}})
        self.term = None
        self.on_step_down()

    async def _give_up(self) -> None:
        term = self.term
        self._step_down("could not start deciding")
        if term is not None:
            with contextlib.suppress(Exception):
                await self.lease.release(term)
