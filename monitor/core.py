"""The monitor core: inventory in, scheduled checks, debounced states, events out.

`Monitor` turns the inventory into scheduler jobs, runs the probe for each job,
judges the result against the check's thresholds, feeds the check's state
machine, and for every change writes the event to the store *before*
publishing it on the event bus.  Current states (last values) are flushed to
the store periodically and at shutdown, so a restart resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from monitor import crashpoints
from monitor.events import (
    CheckEvent,
    CheckKey,
    DeviceEvent,
    EventBus,
    FlappingChanged,
    StateChanged,
)
from monitor.faults.engine import CheckHealth
from monitor.faults.maintenance import major_event_factor
from monitor.health import Health
from monitor.inventory import CheckConfig, Device, Inventory
from monitor.scheduler import JobSpec, Scheduler, UpdateSummary
from monitor.snapshot import CheckView, SchedulerFigures, Snapshot
from monitor.state import CheckState, StateMachine
from monitor.store.store import Store, StoredCheck
from monitor.topology import Topology
from monitor.vocab import Status
from monitor.watchers import CameraWatchers, WatchSpec
from probes.base import ProbeContext, Target
from probes.clients import SharedClients
from probes.registry import PROBES
from probes.result import ProbeEvent, ProbeResult
from probes.thresholds import judge

if TYPE_CHECKING:
    from probes.onvif_events import CameraEvent

log = logging.getLogger("monitor.core")
FLUSH_BATCH = 500  # check states written per transaction by `Monitor.flush`


@dataclass(frozen=True, slots=True)
class CheckJob:
    """What one scheduler job carries: the target, the check and where it sits."""

    target: Target
    check: CheckConfig
    site_id: str


ResultHook = Callable[[CheckKey, "CheckJob", StateMachine], None]


class Recorder(Protocol):
    """Where check history and states are written (`Store.record`)."""

    async def record(self, events: Sequence[CheckEvent],
                     states: Iterable[StoredCheck]) -> None: ...


def job_specs(inventory: Inventory, interval_factor: float = 1.0,
              owns: Callable[[Device], bool] | None = None) -> list[JobSpec]:
    """One scheduler job per configured check (intervals scaled during a major event);
    `owns`: only of the devices this node polls (a cluster's share)."""
    return [_spec(device, check, interval_factor) for device, check in inventory.checks()
            if owns is None or owns(device)]


def _spec(device: Device, check: CheckConfig, factor: float = 1.0) -> JobSpec:
    target = Target(device.id, device.kind.value, device.address, device.credentials)
    interval = max(check.timeout_s, check.interval_s * factor)
    return JobSpec(CheckKey(device.id, check.name), check.kind, interval,
                   check.timeout_s, CheckJob(target, check, device.site))


class Monitor:
    """Runs the checks of an inventory and keeps their states."""

    def __init__(self, store: Store | None, bus: EventBus, clients: SharedClients, *,
                 max_in_flight: int = 500, kind_limits: dict[str, int] | None = None,
                 health: Health | None = None, watch_events: bool = False) -> None:
        self.store = store
        self.health = health or Health()
        self.bus = bus
        self.clients = clients
        limits = {name: p.default_concurrency for name, p in PROBES.items()}
        limits.update(kind_limits or {})
        self.scheduler = Scheduler(self.probe, self._on_result, max_in_flight=max_in_flight,
                                   kind_limits=limits)
        self.machines: dict[CheckKey, StateMachine] = {}
        self.jobs: dict[CheckKey, CheckJob] = {}
        self._restored: dict[CheckKey, StoredCheck] = {}
        self._dirty: set[CheckKey] = set()
        self._unsaved: list[CheckEvent] = []  # events accepted, not written yet
        self._queued: set[CheckKey] = set()  # states to write with them
        self._waiters: list[asyncio.Future[None]] = []  # the callers of those writes
        self._writer: asyncio.Task[None] | None = None
        self._learning: dict[CheckKey, Mapping[str, Any]] = {}  # what each run was given
        # Called with each check whose state or last result changed (a reader's cache:
        # the exporters' rendered series); a hook that raises is logged, never fatal.
        self.result_hooks: list[ResultHook] = []
        self._hook_failing = False
        self.threshold_factor = 1.0  # < 1 during a major event
        self.interval_factor = 1.0  # < 1 during a major event
        self.inventory: Inventory | None = None  # the one applied
        self.topology = Topology()  # who is plugged in where: inventory + forwarding tables
        # What cameras report by themselves (the daemon's; not `monitor once`'s)
        self.watchers = CameraWatchers(self._camera_said) if watch_events else None
        self._background: set[asyncio.Task[None]] = set()
        self._views: dict[CheckKey, CheckView] = {}  # made as results come
        self._views_changed = True
        self._published = Snapshot()
        # A cluster node polls its share alone (`monitor.cluster.share`); None: all.
        self.owns: Callable[[Device], bool] | None = None
        # where the history and states are written: the store, or a remote poller's
        # buffer (`monitor.cluster.spool`) that forwards them to it
        self.recorder: Recorder | None = store

    # -- configuration --

    async def restore(self) -> None:
        """Load persisted states; they are applied to the checks that still exist."""
        if self.store is not None:
            self._restored = {s.key: s for s in await self.store.states()}
            for device, check in await self.store.take_forget_requests():
                for key, s in self._restored.items():
                    if key.device_id == device and check in (None, key.check):
                        self._restored[key] = replace(s, snapshot=replace(s.snapshot,
                                                                          learned={}))
                        log.info("forgot what the check learned",
                                 extra={"fields": {"device": device, "check": key.check}})

    async def apply(self, inventory: Inventory,
                    interval_factor: float | None = None) -> UpdateSummary:
        """Run `inventory` from now on; unchanged checks keep state and schedule.
        Intervals are shortened by the major events on now (or `interval_factor`)."""
        if interval_factor is None:
            interval_factor = major_event_factor(inventory.major_events)
        self.inventory, self.interval_factor = inventory, interval_factor
        self.threshold_factor = major_event_factor(inventory.major_events, "threshold")
        specs = job_specs(inventory, interval_factor, self.owns)
        jobs = {spec.key: spec.payload for spec in specs}
        self.topology.use_inventory(inventory)
        removed = [key for key in self.jobs if key not in jobs]
        configured: Callable[[CheckKey], bool] = jobs.__contains__
        if self.owns is not None:  # another node's check is still configured
            configured = _configured(inventory).__contains__
            await self._hand_over([k for k in removed if configured(k)])
            await self._take_over([k for k in jobs
                                   if k not in self.machines and k not in self._restored])
        for key, job in jobs.items():
            c = job.check
            machine = self.machines.get(key)
            if machine is None:
                machine = self.machines[key] = StateMachine()
                stored = self._restored.pop(key, None)
                if stored is not None:
                    machine.restore(stored.snapshot)
                    last = machine.last_result
                    if c.kind == "snmp_topology" and last and last.status is Status.OK:
                        self.topology.saw(key.device_id, last.values)  # as it was learned
                        self.topology.remember(key.device_id, machine.learned.get("seen"))
                    elif c.kind == "snmp" and last:
                        self.topology.saw_interfaces(key.device_id, last.values)
                self._tell(key, job, machine)
            machine.fail_after, machine.recover_after = c.fail_after, c.recover_after
            machine.flap_window_s, machine.flap_changes = c.flap_window_s, c.flap_changes
        for key in removed:
            self.machines.pop(key, None)
            self._views.pop(key, None)
            self._views_changed = True
            self._dirty.discard(key)
        self.jobs = jobs
        summary = self.scheduler.update(specs)
        if self.watchers is not None:
            self.watchers.apply(_watches(jobs))
        # persisted checks no longer configured
        gone = [k for k in removed + list(self._restored) if not configured(k)]
        self._restored.clear()
        if gone and self.store is not None:
            await self.store.forget(gone)
        return summary

    async def _hand_over(self, keys: list[CheckKey]) -> None:
        """Checks another node polls from now on: their states are written first, for
        it to continue from (a store error: it continues from the last flush)."""
        if keys and self.recorder is not None:
            try:
                await self.recorder.record([], [self.stored(k) for k in keys])
            except Exception as exc:
                self.health.failed("state_writes", exc)

    async def _take_over(self, keys: list[CheckKey]) -> None:
        """Checks this node polls from now on: continue from their stored states (so a
        check that was down stays down, announced once)."""
        if keys and self.store is not None:
            wanted = set(keys)
            self._restored.update((s.key, s) for s in await self.store.states()
                                  if s.key in wanted)

    def _tell(self, key: CheckKey, job: CheckJob, machine: StateMachine) -> None:
        last = machine.last_result
        self._views[key] = CheckView(machine.state.value, machine.since,
                                     str(last.reason) if last else None,
                                     last.detail if last else None, machine.flapping)
        self._views_changed = True
        failed = False
        for hook in self.result_hooks:
            try:
                hook(key, job, machine)
            except Exception as exc:
                if not failed and not self._hook_failing:  # (once per outage, not per result)
                    log.exception("a result hook failed", extra={"fields": {
                        "device": key.device_id, "check": key.check}})
                failed = True
                self.health.failed("result_hooks", exc)
        if failed != self._hook_failing:
            self._hook_failing = failed
            if not failed:
                self.health.ok("result_hooks")

    async def follow_major_events(self) -> None:
        """Shorten intervals and tighten thresholds while a major event is on (one
        step: the daemon calls it every minute)."""
        if self.inventory is None:
            return
        factor = major_event_factor(self.inventory.major_events)
        self.threshold_factor = major_event_factor(self.inventory.major_events, "threshold")
        if factor != self.interval_factor:
            await self.apply(self.inventory, factor)
            log.warning("major event started" if factor < 1 else "major event ended",
                        extra={"fields": {"interval_factor": factor}})

    def check_healths(self) -> Iterator[tuple[CheckKey, CheckHealth]]:
        """The checks that are not up, as the fault engine follows them (what a restart
        restored, for the engine to start from)."""
        for key, machine in self.machines.items():
            if machine.state in (CheckState.DOWN, CheckState.WARNING) and key in self.jobs:
                yield key, CheckHealth.of(machine.state, machine.last_result,
                                          self.jobs[key].check.kind)

    def snapshot(self) -> Snapshot:
        """What readers may read (on the event loop; then anywhere): a new version when
        anything changed since the last one, else the last one again."""
        stats, last = self.scheduler.stats, self._published
        figures = SchedulerFigures(stats.runs_total, stats.skipped_total,
                                   stats.timeouts_total, stats.crashes_total,
                                   self.scheduler.in_flight, stats.lag_quantile(0.5),
                                   stats.lag_quantile(0.99))
        watches = events = None
        if self.watchers is not None:
            watches = dict(Counter(state for state, _ in self.watchers.states.values()))
            events = dict(self.watchers.events)
        if (not self._views_changed and figures == last.scheduler and watches == last.watches
                and (events or {}) == last.camera_events):
            return last
        checks = last.checks
        if self._views_changed:
            checks = MappingProxyType(dict(self._views))
            self._views_changed = False
        self._published = Snapshot(last.version + 1, time.time(), checks, figures,
                                   MappingProxyType(watches) if watches is not None else None,
                                   MappingProxyType(events or {}))
        return self._published

    def watch(self, health: Health, scheduler: asyncio.Task[None]) -> None:
        """The scheduler's part of `/healthz` (critical), asked at read time: `scheduler`
        is the task running `self.scheduler.run()`."""
        def state() -> tuple[str, str]:
            if scheduler.done():
                return "failing", f"the scheduler stopped: {scheduler.exception()!r}"
            stats = self.scheduler.stats
            lag = stats.lag_quantile(0.99)
            return "ok", f"{stats.runs_total} runs, lag p99 " + (
                f"{lag:.2f}s" if lag is not None else "n/a")

        health.watch("scheduler", state, critical=True)

    def device_states(self) -> dict[str, dict[str, object]]:
        """Every device's checks and their states (what MQTT publishes), from a
        snapshot."""
        return self.snapshot().device_states()

    def _camera_said(self, key: CheckKey, said: CameraEvent) -> None:
        """A device reported a fault by itself: record it and re-run its checks now
        (they confirm; the event alone changes no state)."""
        job = self.jobs.get(key)
        if job is None:
            return
        now = time.time()
        event = DeviceEvent(key, job.check.kind, job.target.device_kind, job.site_id, now,
                            ProbeEvent("camera_event", said.detail,
                                       {"kind": said.kind, "topic": said.topic,
                                        "alarm": said.alarm}))
        rerun = [k for k in self.jobs if k.device_id == key.device_id]
        log.warning("camera event", extra={"fields": {
            "device": key.device_id, "site": job.site_id, "detail": said.detail,
            "rechecks": [k.check for k in rerun]}})
        for k in rerun:
            self.scheduler.run_now(k)
        task = asyncio.create_task(self._persist([event], []), name="camera event")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        self.bus.publish(event)

    async def stop(self) -> None:
        """Stop what runs besides the scheduler (the event watches)."""
        if self.watchers is not None:
            await self.watchers.stop()
        await asyncio.gather(*self._background, return_exceptions=True)

    # -- running --

    async def probe(self, spec: JobSpec, deadline: float) -> ProbeResult:
        """Run the probe of one job and judge its values (called by the scheduler)."""
        job: CheckJob = spec.payload
        probe = PROBES[job.check.kind]
        machine = self.machines.get(spec.key)
        previous = machine.last_result if machine is not None else None
        learned = machine.learned if machine is not None else {}
        self._learning[spec.key] = learned
        attached = self.topology.attached_ports(job.target.device_id)
        result = await probe.run(job.target, job.check.params,
                                 ProbeContext(deadline, self.clients, previous, attached,
                                              learned))
        thresholds = job.check.thresholds
        if self.threshold_factor < 1:
            thresholds = {k: v.tightened(self.threshold_factor) for k, v in thresholds.items()}
        return judge(result, thresholds).interned()

    async def run_once(self, device_id: str | None = None,
                       check: str | None = None) -> list[tuple[CheckJob, ProbeResult]]:
        """Run the selected checks once now, concurrently, and return their results."""
        specs = [JobSpec(key, job.check.kind, job.check.interval_s, job.check.timeout_s, job)
                 for key, job in self.jobs.items()
                 if (device_id is None or key.device_id == device_id)
                 and (check is None or key.check == check)]
        results = await asyncio.gather(*(self.scheduler.execute(s) for s in specs))
        return [(s.payload, r) for s, r in zip(specs, results, strict=True)]

    async def _on_result(self, spec: JobSpec, result: ProbeResult) -> None:
        key: CheckKey = spec.key
        machine = self.machines.get(key)
        if machine is None:  # removed by a reload while it ran
            return
        job: CheckJob = spec.payload
        now = time.time()
        change = machine.feed(result, now)
        # (unless it was forgotten while this run learned from it)
        if result.learned is not None and self._learning.pop(key, None) is machine.learned:
            machine.learned = result.learned
        self._dirty.add(key)
        self._tell(key, job, machine)
        if job.check.kind == "snmp_topology" and result.status is Status.OK:
            self.topology.saw(key.device_id, result.values)
        elif job.check.kind == "snmp":
            self.topology.saw_interfaces(key.device_id, result.values)
        events: list[CheckEvent] = []
        if change.new is not None and change.old is not None:
            events.append(StateChanged(key, job.check.kind, job.target.device_kind, job.site_id,
                                       change.old, change.new, now, result, machine.flapping))
            log.info("state change", extra={"fields": {
                "device": key.device_id, "check": key.check, "site": job.site_id,
                "from": change.old.value, "to": change.new.value,
                "status": result.status.value, "reason": str(result.reason),
                "detail": result.detail}})
        for seen in result.events:
            events.append(DeviceEvent(key, job.check.kind, job.target.device_kind, job.site_id,
                                      now, seen))
            log.warning(seen.kind.replace("_", " "), extra={"fields": {
                "device": key.device_id, "check": key.check, "site": job.site_id,
                "detail": seen.detail}})
        if change.flapping is not None:
            events.append(FlappingChanged(key, job.check.kind, job.target.device_kind,
                                          job.site_id, change.flapping, now,
                                          len(machine.changes)))
            log.warning("flapping started" if change.flapping else "flapping stopped",
                        extra={"fields": {"device": key.device_id, "check": key.check,
                                          "changes": len(machine.changes)}})
        if events:
            await self._persist(events, [key])
            for event in events:
                self.bus.publish(event)

    async def _persist(self, events: Sequence[CheckEvent], keys: Sequence[CheckKey]) -> None:
        """Write `events` and the states of `keys`; return once they are written (or
        kept for the next try, on a store error).  Group commit: what arrives while a
        write is going is written together by the next one, so a thousand cameras
        going down at once (or 20,000 checks' first results) cost a few transactions,
        not a thousand."""
        if self.recorder is None:
            return
        self._unsaved.extend(events)
        self._queued.update(keys)
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_queued(), name="state writes")
        await waiter

    async def _write_queued(self) -> None:
        assert self.recorder is not None
        try:
            while self._waiters:
                waiters, self._waiters = self._waiters, []
                keys, self._queued = [k for k in self._queued if k in self.machines], set()
                pending, self._unsaved = self._unsaved, []
                self._dirty.difference_update(keys)
                try:
                    await self.recorder.record(pending, [self.stored(k) for k in keys])
                except BaseException as exc:
                    # Keep them for the next write -- also when cancelled at shutdown,
                    # whose final flush then writes them.  Nothing accepted is dropped.
                    self._unsaved = pending + self._unsaved
                    self._dirty.update(k for k in keys if k in self.machines)
                    _wake(waiters)
                    if not isinstance(exc, Exception):
                        _wake(self._waiters)
                        self._waiters = []
                        raise
                    self.health.failed("state_writes", exc)  # logged once per outage
                else:
                    self.health.ok("state_writes")
                    if any(isinstance(e, StateChanged) for e in pending):
                        crashpoints.reached("state_written")
                    _wake(waiters)
        finally:
            self._writer = None

    def stored(self, key: CheckKey) -> StoredCheck:
        """The persistable form of one check's state."""
        job = self.jobs[key]
        return StoredCheck(key, job.check.kind, job.site_id, job.target.device_kind,
                           self.machines[key].snapshot())

    async def flush(self) -> None:
        """Take the requests to forget what checks learned (`monitor baseline reset`),
        then write every check state changed since the last flush."""
        if self.store is not None:
            try:
                requests = await self.store.take_forget_requests()
            except Exception as exc:
                self.health.failed("state_writes", exc)
                requests = []
            for device, check in requests:
                self.forget_learned(device, check)
        keys = [k for k in self._dirty if k in self.jobs]
        # A batch at a time, each its own transaction: the rows are built (and SQLAlchemy
        # binds them) on the event loop, which 20,000 checks' states at once would hold
        # for half a second.
        for at in range(0, max(len(keys), 1), FLUSH_BATCH):
            await self._persist([], keys[at:at + FLUSH_BATCH])

    def forget_learned(self, device_id: str, check: str | None = None) -> list[CheckKey]:
        """Forget what the checks of `device_id` (or its one `check`) learned, so that
        they learn again from their next runs; the checks concerned."""
        keys = [k for k, m in self.machines.items()
                if k.device_id == device_id and check in (None, k.check) and m.learned]
        for key in keys:
            self.machines[key].learned = {}
            self._dirty.add(key)
            log.info("forgot what the check learned",
                     extra={"fields": {"device": device_id, "check": key.check}})
        return keys

    async def flush_every(self, interval_s: float) -> None:
        """Flush periodically until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            await self.flush()


def _wake(waiters: Iterable[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():  # (its caller may have been cancelled)
            waiter.set_result(None)


def _configured(inventory: Inventory) -> set[CheckKey]:
    return {CheckKey(device.id, check.name) for device, check in inventory.checks()}


def _watches(jobs: dict[CheckKey, CheckJob]) -> dict[CheckKey, WatchSpec]:
    """The event subscriptions the inventory asks for: one per ``onvif`` check with
    ``events`` on."""
    out = {}
    for key, job in jobs.items():
        params = job.check.params
        if job.check.kind == "onvif" and getattr(params, "events", False):
            creds = job.target.credentials
            out[key] = WatchSpec(job.target.address, int(getattr(params, "port", 80)),
                                 creds.username, creds.password)
    return out
