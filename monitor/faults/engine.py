"""From check states to faults to tickets: one root cause, one ticket.

Every evaluation recomputes the set of *root faults* from the current check states
(cheap: state changes are rare, and a storm of them is one evaluation), then
reconciles the tickets with it:

* a device with a DOWN check is *down*; with only WARNING checks, *degraded*;
* a site whose devices are all down is one site fault (``site:<id>``);
* a faulty device with a down ancestor -- its configured parent, else the switch
  its MAC was learned behind -- is not a root: it is a member of the topmost down
  ancestor's fault;
* a device whose failures are all of its picture or of reaching it, while the port
  it hangs off (the inventory's ``port:``, else the one its MAC was learned behind;
  for a switch, the one LLDP shows), or an uplink of a switch on the path up from
  it, is down is a member of that switch's fault: a transmission fault ("port Gi0/5
  down"), not a camera fault.  Another port of its switch being down says nothing
  about it;
* when the share of all cameras without video reaches `cameras_down_ratio`, their
  faults become one level-1 fault (``scope:cameras``);
* what remains is a root fault (``device:<id>``), its level the most severe of its
  own checks' and its members' levels.

A root fault without an active ticket opens one -- unless a maintenance window
covers it: then it is recorded (the states are in the store) and nothing opens.
A fault that disappears is resolved once it has stayed away `resolve_after` -- at once
when its devices are members of another fault now (it is part of that one); one that
returns within the store's reopen window reopens its ticket.  Suppression never holds
back a resolution.  When a parent recovers, its members still down become roots
and get tickets of their own then; those that recovered with it get nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from monitor import crashpoints
from monitor.cluster.lease import Fenced
from monitor.cluster.members import Member
from monitor.cluster.share import Shares
from monitor.events import CheckKey, EventBus, StateChanged, Subscription, TicketEvent
from monitor.faults.levels import FaultLevel, FaultRules
from monitor.health import Health, is_store_outage
from monitor.inventory.models import Device, DeviceKind, Inventory, SiteRole
from monitor.state import CheckState
from monitor.tickets.store import FaultTicket, TicketStore
from monitor.topology import PATH_PREFIX, Attachment, View, describe
from monitor.vocab import Reason
from probes.result import ProbeResult

log = logging.getLogger("monitor.faults")

HEALTH = "fault_engine"  # the component's name in /healthz
STEP = 200  # devices or faults judged between two yields to the event loop
PICTURE_REASONS = {Reason.BLACK_SCREEN, Reason.SIGNAL_LOSS, Reason.FROZEN, Reason.NO_FRAMES,
                   Reason.TOO_FEW_FRAMES}
# What a device behind a down port shows: no picture, or no answer at all.  (Not
# "refused": an answer, so the link is up.)
LINK_REASONS = PICTURE_REASONS | {Reason.UNREACHABLE, Reason.TIMEOUT, Reason.STREAM_ERROR}


@dataclass(frozen=True, slots=True)
class CheckHealth:
    """A check's state and why; `blame`: the devices its failure is filed on, when
    they are not its own (a ``path`` check's login step: the password server)."""

    state: CheckState
    reason: str
    probe_kind: str
    detail: str
    blame: tuple[str, ...] = ()

    @classmethod
    def of(cls, state: CheckState, last: ProbeResult | None, probe_kind: str) -> CheckHealth:
        """From a check's state and its last result."""
        if last is None:
            return cls(state, "", probe_kind, "")
        blame = last.values.get("blame")
        return cls(state, str(last.reason), probe_kind, last.detail,
                   tuple(b for b in blame.split(",") if b) if isinstance(blame, str) else ())


@dataclass(frozen=True, slots=True)
class Fault:
    """A root fault: what one ticket is for."""

    key: str
    level: FaultLevel
    site_id: str
    device_id: str | None
    title: str
    description: str
    members: frozenset[str]
    suppressed: bool
    titles: Mapping[str, str] = field(default_factory=dict)  # language -> title

    def ticket(self, region: str) -> FaultTicket:
        """What the ticket store needs."""
        return FaultTicket(self.key, self.level, self.site_id, self.device_id, self.title,
                           self.description, tuple(sorted(self.members)), region,
                           dict(self.titles))


class FaultEngine:
    """Keeps the tickets in step with the faults."""

    def __init__(self, tickets: TicketStore, bus: EventBus, rules: FaultRules | None = None,
                 *, resolve_after_s: float = 300.0, language: str = "zh",
                 clock: Callable[[], float] = time.time) -> None:
        self.tickets = tickets
        self.bus = bus
        self.rules = rules or FaultRules()
        self.resolve_after = resolve_after_s
        self.language = language
        self.clock = clock
        self.inventory: Inventory | None = None
        self._site_devices: dict[str, list[str]] = {}  # site → its devices
        self._cameras: list[str] = []
        self.checks: dict[CheckKey, CheckHealth] = {}
        self.topology = View()  # learned attachments and down ports
        self.active: dict[str, str] = {}  # fault key → active ticket number
        self.sent: dict[str, tuple[int, frozenset[str]]] = {}  # what the store last heard
        self.clear_since: dict[str, float] = {}
        self.failing: dict[str, str] = {}  # fault key → why its evaluation raised
        self.errors_total = 0
        self._wake: asyncio.Event | None = None  # set by `follow`: evaluate soon
        # a cluster's pinned pollers that are dead → the sites nobody polls because of it
        self.lost_pollers: dict[str, tuple[str, ...]] = {}
        self._unpolled: frozenset[str] = frozenset()

    # -- inputs --

    def use_inventory(self, inventory: Inventory) -> None:
        """Judge against this inventory from now on."""
        self.inventory = inventory
        self.checks = {k: v for k, v in self.checks.items() if k.device_id in inventory.devices}
        # per inventory, not per evaluation (20,000 devices in 400 sites: walking the
        # devices once per site held the event loop for 1.5 s at every evaluation)
        self._site_devices = {}
        for device in inventory.devices.values():
            self._site_devices.setdefault(device.site, []).append(device.id)
        self._cameras = [d.id for d in inventory.devices.values()
                         if d.kind is DeviceKind.CAMERA]

    def set_check(self, key: CheckKey, health: CheckHealth) -> None:
        """A check's current state (from a state change, or restored)."""
        if health.state in (CheckState.UP, CheckState.UNKNOWN):
            self.checks.pop(key, None)
        else:
            self.checks[key] = health

    def replace_checks(self, checks: Mapping[CheckKey, CheckHealth], wake: bool = True) -> bool:
        """Every check that is not up, at once (a cluster's leader reads them from the
        store, where each node writes its own; a single node, from its core before each
        evaluation: a check still down may have changed its reason or blame); whether
        anything changed -- then, with `wake`, an evaluation follows soon."""
        inventory = self.inventory
        kept = {k: v for k, v in checks.items()
                if v.state in (CheckState.DOWN, CheckState.WARNING)
                and (inventory is None or k.device_id in inventory.devices)}
        if kept == self.checks:
            return False
        self.checks = kept
        if self._wake is not None and wake:
            self._wake.set()
        return True

    def use_members(self, members: Iterable[Member]) -> bool:
        """A cluster's nodes as last read: a dead node pinned to sites that no live node
        polls now is one fault -- "lost contact with the poller" -- and the faults of
        those sites' devices open no tickets meanwhile (their states are as last
        reported; what a remote poller kept is applied when it is back).  Whether
        anything changed."""
        members = list(members)
        shares, inv = Shares.of(members), self.inventory
        lost: dict[str, tuple[str, ...]] = {}
        if inv is not None:
            unpolled = {s.id for s in inv.sites.values()
                        if (s.id in shares.pinned or s.region in shares.pinned)
                        and not shares.candidates(s.id, s.region)}
            for m in members:
                if not m.alive and m.pins:
                    sites = tuple(sorted(
                        s for s in unpolled if s in m.pins or (
                            inv.sites[s].region in m.pins and s not in shares.pinned)))
                    if sites:
                        lost[m.id] = sites
        if lost == self.lost_pollers:
            return False
        self.lost_pollers = lost
        self._unpolled = frozenset(s for sites in lost.values() for s in sites)
        if self._wake is not None:
            self._wake.set()
        return True

    def learn_topology(self, view: View | Mapping[str, Attachment]) -> None:
        """Judge the network's shape from this (`monitor.topology`): the learned
        attachments of devices without a configured parent, and the down ports."""
        self.topology = view if isinstance(view, View) else View(dict(view))

    @property
    def learned(self) -> Mapping[str, Attachment]:
        """The learned attachments in use."""
        return self.topology.learned

    async def restore(self, checks: Iterable[tuple[CheckKey, CheckHealth]] = ()) -> None:
        """Start from the active tickets in the store and the checks' restored states
        (after a restart)."""
        for key, health in checks:
            self.set_check(key, health)
        self.active = await self.tickets.active_faults()

    # -- the judgement --

    def parent(self, device: Device) -> str | None:
        """The configured parent; else the learned one."""
        if device.parent is not None:
            return device.parent
        learned = self.topology.learned.get(device.id)
        return learned.switch if learned is not None else None

    def faults(self, now: float | None = None) -> dict[str, Fault]:
        """The root faults the current states amount to."""
        return {f.key: f for f in self._faults(now) if f is not None}

    async def faults_stepwise(self, now: float | None = None) -> dict[str, Fault]:
        """`faults`, yielding to the event loop every `STEP` devices or faults (a major
        event: thousands of failing devices are tens of milliseconds of work)."""
        found = {}
        for fault in self._faults(now):
            if fault is None:
                await asyncio.sleep(0)
            else:
                found[fault.key] = fault
        return found

    def _faults(self, now: float | None = None) -> Iterator[Fault | None]:
        """The root faults, with None every `STEP` devices or faults: a point where the
        caller may let others run (what it read is taken at the start)."""
        inv = self.inventory
        if inv is None:
            return
        when = dt.datetime.fromtimestamp(self.clock() if now is None else now, dt.UTC)
        failing: dict[str, list[tuple[CheckKey, CheckHealth]]] = {}
        for check_key, health in self.checks.items():
            if check_key.device_id in inv.devices:
                on = [d for d in health.blame if d in inv.devices] or [check_key.device_id]
                for device_id in on:
                    failing.setdefault(device_id, []).append((check_key, health))
        down = {d for d, checks in failing.items()
                if any(h.state is CheckState.DOWN for _, h in checks)}
        levels: dict[str, FaultLevel] = {}
        unclassified: set[str] = set()
        for n, (d, checks) in enumerate(failing.items(), 1):
            if n % STEP == 0:
                yield None
            try:
                level = self._device_level(inv.devices[d], checks)
            except Exception as exc:  # a rule that raises must not hide the device
                self._failed(f"level:{d}", exc)
                unclassified.add(f"level:{d}")
                level = FaultLevel.MAJOR
            if level is not None:
                levels[d] = level
        for key in [k for k in self.failing if k.startswith("level:")
                    and k not in unclassified]:
            del self.failing[key]

        root_of: dict[str, str] = {}
        links: dict[str, tuple[str, str]] = {}  # device → (switch, what is down): joined
        sites_down = {s for s, ids in self._site_devices.items()
                      if s in inv.sites and len(ids) >= 2 and all(d in down for d in ids)}
        for device_id in levels:
            device = inv.devices[device_id]
            top = self._topmost_down_ancestor(device, down)
            anchor = top or device_id
            link = self._transmission_link(device, failing)
            if link is not None:  # (also under a down ancestor: the title names it)
                links[device_id] = link
            if inv.devices[anchor].site in sites_down:
                root_of[device_id] = f"site:{inv.devices[anchor].site}"
            elif top is not None:
                root_of[device_id] = f"device:{top}"
            elif link is not None:
                root_of[device_id] = f"device:{link[0]}"
            else:
                root_of[device_id] = f"device:{device_id}"
        for key in list(root_of.values()):  # a link fault's switch is a root of its own
            if key.startswith("device:") and key[7:] not in root_of:
                root_of[key[7:]] = key
        for device_id, key in root_of.items():  # a switch behind a down port takes its
            seen = {key}                         # devices into the port's fault
            while key.startswith("device:") and (up := root_of.get(key[7:], key)) not in seen:
                seen.add(up)
                key = up
            root_of[device_id] = key

        cameras = self._cameras
        unpolled = self._unpolled  # (their states are stale: they count for no scope)
        blind = [c for c in cameras if c in down and inv.devices[c].site not in unpolled]
        if (len(cameras) >= self.rules.cameras_scope_min
                and len(blind) >= self.rules.cameras_down_ratio * len(cameras)):
            for camera in blind:
                if root_of.get(camera) == f"device:{camera}":
                    root_of[camera] = "scope:cameras"

        members: dict[str, set[str]] = {}
        for device_id, key in root_of.items():
            members.setdefault(key, set()).add(device_id)
        for n, (key, ids) in enumerate(members.items(), 1):
            if n % STEP == 0:
                yield None
            try:
                fault = self._fault(key, ids, levels, failing, when, links)
            except Exception as exc:  # still a fault: a plain ticket beats none
                self._failed(key, exc)
                site = inv.devices[min(ids)].site
                fault = Fault(key, min((levels[d] for d in ids if d in levels),
                                       default=FaultLevel.MAJOR), site,
                              key[7:] if key.startswith("device:") else None,
                              f"{key}: fault (its evaluation failed, see the log)",
                              "", frozenset(ids), False)
            yield fault
        for node, sites in self.lost_pollers.items():
            yield self._lost_poller(node, sites, when)

    def _lost_poller(self, node: str, sites: tuple[str, ...], when: dt.datetime) -> Fault:
        assert self.inventory is not None
        inv = self.inventory
        zh = "、".join(inv.sites[s].name_zh for s in sites)
        en = ", ".join(inv.sites[s].name_en for s in sites)
        devices = sum(len(self._site_devices.get(s, ())) for s in sites)
        titles = {"zh": f"与轮询节点失去联系：{node}（{zh}）",
                  "en": f"lost contact with the poller {node} ({en})"}
        description = (f"node {node} polls {', '.join(sites)} ({devices} devices) and has "
                       "not been heard from; their states are as it last reported them, "
                       "and what it keeps meanwhile arrives when it is back")
        return Fault(f"poller:{node}", FaultLevel.MAJOR, sites[0], None,
                     titles.get(self.language, titles["zh"]), description, frozenset(),
                     self._suppressed(sites[0], None, when), titles)

    def _device_level(self, device: Device,
                      checks: list[tuple[CheckKey, CheckHealth]]) -> FaultLevel | None:
        assert self.inventory is not None
        role = self.inventory.sites[device.site].role.value if device.site in \
            self.inventory.sites else ""
        found = [self.rules.classify(device.kind.value, h.probe_kind, k.check, h.reason,
                                     h.state, role, dict(device.labels)) for k, h in checks]
        known = [f[0] for f in found if f is not None]
        return min(known) if known else None

    def _topmost_down_ancestor(self, device: Device, down: set[str]) -> str | None:
        assert self.inventory is not None
        top, seen = None, {device.id}
        current = self.parent(device)
        while current is not None and current in self.inventory.devices and current not in seen:
            seen.add(current)
            if current in down:
                top = current
            elif top is not None:
                break  # the chain of down devices ended
            current = self.parent(self.inventory.devices[current])
        return top

    def _transmission_link(self, device: Device,
                           failing: Mapping[str, list[tuple[CheckKey, CheckHealth]]]
                           ) -> tuple[str, str] | None:
        """For a device whose only failures are of its picture or of reaching it: the
        switch on its path whose port to it (or toward it), or whose uplink, is down,
        and what is down."""
        own = failing.get(device.id, [])
        if not own or not all(h.reason in LINK_REASONS for _, h in own):
            return None
        assert self.inventory is not None
        for hop in self.topology.path(self.inventory, device):
            if hop.down:
                return hop.switch, ", ".join(hop.down)
        return None

    def _fault(self, key: str, devices: set[str], levels: Mapping[str, FaultLevel],
               failing: Mapping[str, list[tuple[CheckKey, CheckHealth]]],
               when: dt.datetime, links: Mapping[str, tuple[str, str]]) -> Fault:
        assert self.inventory is not None
        inv = self.inventory
        kind, _, ident = key.partition(":")
        level = min((levels[d] for d in devices if d in levels), default=FaultLevel.MINOR)
        paths: list[str] = []
        if kind == "site":
            site = inv.sites[ident]
            role_bonus = self.rules.role_weight.get(site.role, 0)
            level = min(level, FaultLevel(max(1, FaultLevel.MAJOR - role_bonus)))
            titles = {"zh": f"站点全部设备离线：{site.name_zh}",
                      "en": f"site lost: {site.name_en}"}
            site_id, device_id = ident, None
        elif kind == "scope":
            level = FaultLevel.CRITICAL
            titles = {"zh": f"大面积摄像机无视频：{len(devices)} 台",
                      "en": f"cameras without video across the network: {len(devices)}"}
            site_id = next(s.id for s in inv.sites.values()
                           if s.role is SiteRole.PROVINCIAL_CENTRE) if any(
                s.role is SiteRole.PROVINCIAL_CENTRE for s in inv.sites.values()) else \
                inv.devices[min(devices)].site
            device_id = None
        else:
            device = inv.devices[ident]
            zh, en = self._title(device, failing.get(ident, []))
            others = len(devices) - 1
            joined = sorted(d for d in devices if d in links and links[d][0] == ident)
            down = sorted({links[d][1] for d in joined})
            paths = [PATH_PREFIX + describe(self.topology.path(inv, inv.devices[d]))
                     for d in joined[:5]]
            if down:
                zh = f"链路故障（{'、'.join(down)} 中断）".replace("port ", "端口 ") \
                    .replace("uplink ", "上联 ")
                en = f"transmission fault ({', '.join(down)} down)"
            titles = {"zh": f"{zh}：{device.name} ({device.id})",
                      "en": f"{en}: {device.name} ({device.id})"}
            if others:
                titles["zh"] += f"，影响 {others} 台设备"
                titles["en"] += f", {others} devices affected"
            site_id, device_id = device.site, ident
        lines = list(paths)
        for d in sorted(devices):
            for k, h in failing.get(d, []):
                lines.append(f"{d}/{k.check}: {h.state.value} {h.reason} — {h.detail}")
        return Fault(key, level, site_id, device_id, titles.get(self.language, titles["zh"]),
                     "\n".join(lines[:50]), frozenset(devices),
                     self._suppressed(site_id, device_id, when) or site_id in self._unpolled,
                     titles)

    def _title(self, device: Device, checks: list[tuple[CheckKey, CheckHealth]]
               ) -> tuple[str, str]:
        """The fault rule's title for the device's worst check, in Chinese and English."""
        assert self.inventory is not None
        role = self.inventory.sites[device.site].role.value
        best = None
        for k, h in checks:
            found = self.rules.classify(device.kind.value, h.probe_kind, k.check, h.reason,
                                        h.state, role, dict(device.labels))
            if found is not None and (best is None or found[0] < best[0]):
                best = found
        if best is None:
            return "设备故障", "device fault"
        return best[1].title_zh, best[1].title_en

    def _suppressed(self, site: str, device: str | None, when: dt.datetime) -> bool:
        assert self.inventory is not None
        kind = self.inventory.devices[device].kind.value if device else None
        return any(w.active(when, self.tickets.policy.zone) and w.covers(site, device, kind)
                   for w in self.inventory.maintenance)

    # -- following the checks --

    async def follow(self, events: Subscription, every_s: float = 10.0,
                     topology: Callable[[], View | Mapping[str, Attachment]] | None = None,
                     health: Health | None = None,
                     checks: Callable[[], Iterable[tuple[CheckKey, CheckHealth]]] | None = None
                     ) -> None:
        """Evaluate after state changes (a storm of them is one evaluation) and every
        `every_s` seconds (resolution timers, maintenance windows), until cancelled;
        each time from the `topology` and, when given, the current `checks`."""
        wake = self._wake = asyncio.Event()

        async def listen() -> None:
            async for event in events:
                if isinstance(event, StateChanged):
                    self.set_check(event.key, CheckHealth.of(event.new, event.result,
                                                             event.probe_kind))
                    wake.set()

        listener = asyncio.create_task(listen(), name="faults-listen")
        wake.set()  # a restarted daemon reconciles with the restored states at once
        health = health or Health()
        health.add(HEALTH, critical=True)
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(every_s):
                        await wake.wait()
                await asyncio.sleep(0.5)  # let the rest of a storm arrive
                wake.clear()
                try:
                    if topology is not None:
                        self.learn_topology(topology())
                    if checks is not None:
                        self.replace_checks(dict(checks()), wake=False)
                    await self.evaluate()
                except Exception as exc:
                    health.failed(HEALTH, exc)
                else:
                    if self.failing:
                        health.failed(HEALTH, f"{len(self.failing)} faults fail to evaluate: "
                                              + ", ".join(sorted(self.failing)[:5]))
                    else:
                        health.ok(HEALTH)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            events.close()
            self._wake = None

    # -- reconciling the tickets --

    async def evaluate(self, now: float | None = None) -> list[TicketEvent]:
        """Open, update and resolve tickets to match the faults; the events that made.

        Each fault is reconciled on its own: an exception in one is logged (once while
        it lasts), counted in `errors_total` and kept in `failing`, and every other fault
        still opens, raises and resolves its ticket.  An unreachable store ends the
        evaluation (the next one retries); each event is published as soon as its
        ticket is written.  The active tickets are read from the store first, so a
        ticket closed by hand while its fault is still there gets a successor now.
        """
        now = self.clock() if now is None else now
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        events: list[TicketEvent] = []
        stored = await self.tickets.active_faults()
        for key in [k for k in self.active if k not in stored]:  # closed or resolved by hand
            self.active.pop(key, None)
            self.sent.pop(key, None)
        self.active.update(stored)
        faults = await self.faults_stepwise(now)
        for key, fault in faults.items():
            self.clear_since.pop(key, None)
            try:
                event = await self._reconcile(fault, now, when)
            except Exception as exc:
                self._failed(key, exc)
                continue
            self.failing.pop(key, None)
            if event is not None:
                events.append(self._publish(event))
        joined = {m: f for f in faults.values() for m in f.members if f"device:{m}" != f.key}
        for key in [k for k in self.active if k not in faults]:
            try:
                into = joined.get(key[7:]) if key.startswith("device:") else None
                event = await self._resolve(key, now, when, into)
            except Exception as exc:
                self._failed(key, exc)
                continue
            self.failing.pop(key, None)
            if event is not None:
                events.append(self._publish(event))
        for key in [k for k in self.failing if not k.startswith("level:")
                    and k not in faults and k not in self.active]:
            del self.failing[key]  # gone: nothing left to fail
        return events

    async def _reconcile(self, fault: Fault, now: float,
                         when: dt.datetime) -> TicketEvent | None:
        key = fault.key
        if fault.suppressed and key not in self.active:
            return None  # recorded, not ticketed: a maintenance window covers it
        signature = (int(fault.level), fault.members)
        if self.sent.get(key) == signature and key in self.active:
            return None
        region = self.inventory.sites[fault.site_id].region if self.inventory else ""
        outcome = await self.tickets.open_fault(fault.ticket(region), when)
        self.active[key], self.sent[key] = outcome.number, signature
        if outcome.kind == "existing":
            return None
        return self._event(outcome.kind, outcome.number, fault, now)

    async def _resolve(self, key: str, now: float, when: dt.datetime,
                       into: Fault | None = None) -> TicketEvent | None:
        """Resolve `key`'s ticket once its fault has been clear `resolve_after`; at once
        when its device is a member of fault `into` now (whose ticket follows it)."""
        since = self.clear_since.setdefault(key, now)
        number = self.active.get(into.key) if into is not None else None
        if into is not None and number is not None:
            note = (f"并入工单 {number}：{into.titles.get('zh', into.title)}"
                    if self.language == "zh" else
                    f"now part of ticket {number}: {into.titles.get('en', into.title)}")
        elif now - since < self.resolve_after:
            return None
        else:
            minutes = self.resolve_after / 60
            note = (f"故障已消除 {minutes:g} 分钟" if self.language == "zh" else
                    f"the fault has been clear for {minutes:g} min")
        number = await self.tickets.resolve_fault(key, when, note)
        self.active.pop(key, None)
        self.sent.pop(key, None)
        self.clear_since.pop(key, None)
        if number is None:
            return None
        return TicketEvent("resolved", number, key, None, None, None, "", (), now, note)

    def _failed(self, key: str, exc: Exception) -> None:
        """One fault's evaluation raised: an outage ends the pass, a bug is noted."""
        if is_store_outage(exc) or isinstance(exc, Fenced):
            raise exc
        self.errors_total += 1
        if key not in self.failing:
            log.error("evaluating a fault failed; the others go on, this one is retried",
                      exc_info=exc, extra={"fields": {"fault": key}})
        self.failing[key] = f"{type(exc).__name__}: {exc}"

    def _publish(self, event: TicketEvent) -> TicketEvent:
        log.info(f"ticket {event.kind}", extra={"fields": {
            "ticket": event.number, "fault": event.fault_key,
            "fault_level": event.level, "title": event.title}})
        crashpoints.reached("ticket_written")
        self.bus.publish(event)
        return event

    def _event(self, kind: str, number: str, fault: Fault, now: float) -> TicketEvent:
        return TicketEvent(kind, number, fault.key, int(fault.level), fault.site_id,
                           fault.device_id, fault.title, tuple(sorted(fault.members)), now,
                           fault.description)
