"""The asyncio scheduler: every (device, check) at its interval, within its budget.

* Each job's first run is placed at a stable, hash-derived offset within its
  interval (Prometheus places scrapes the same way), so 20,000 checks do not
  all fire at start-up and a restart keeps the spread.
* Runs are fixed-rate (due, due + interval, ...), so latency does not drift
  the schedule.  A run still going when the next one is due is *skipped* and
  counted -- never overlapped.  After a stall the schedule jumps forward
  rather than firing a burst of catch-up runs.
* Concurrency is bounded globally and per probe kind.  The budget (the check's
  timeout) starts when the run gets its slot; the run executes under
  ``asyncio.timeout`` so a hanging probe becomes a ``timeout`` result, and a
  probe that raises becomes an ``error`` result -- neither touches other jobs.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.vocab import Status
from probes.errors import ProbeError
from probes.result import ProbeResult, Reason

log = logging.getLogger(__name__)

_EPSILON = 0.001


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What to run and how often.  `payload` is handed back to the runner."""

    key: Any  # hashable; the scheduler never looks inside
    kind: str
    interval_s: float
    timeout_s: float
    payload: Any = field(compare=True)


RunFn = Callable[[JobSpec, float], Awaitable[ProbeResult]]
ResultFn = Callable[[JobSpec, ProbeResult], Awaitable[None]]


@dataclass(slots=True, eq=False)
class _Job:
    spec: JobSpec
    generation: int
    due: float = 0.0
    task: asyncio.Task[None] | None = None
    runs: int = 0
    skipped: int = 0

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


@dataclass(frozen=True, slots=True)
class UpdateSummary:
    """What `Scheduler.update` did."""

    added: int
    changed: int
    removed: int
    unchanged: int


@dataclass(slots=True)
class SchedulerStats:
    """Counters and recent lag samples for the exporters and the benchmark."""

    runs_total: int = 0
    skipped_total: int = 0
    timeouts_total: int = 0
    crashes_total: int = 0
    lag_s: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))

    def lag_quantile(self, q: float) -> float | None:
        """The `q` quantile of recent scheduler lag (due → started), or None."""
        if not self.lag_s:
            return None
        ordered = sorted(self.lag_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def phase(key: Hashable) -> float:
    """A stable fraction in [0, 1) derived from `key` (not Python's salted hash)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Scheduler:
    """Runs jobs at their intervals with bounded concurrency and time budgets."""

    def __init__(self, run: RunFn, on_result: ResultFn, *, max_in_flight: int = 500,
                 kind_limits: Mapping[str, int] | None = None) -> None:
        self._run = run
        self._on_result = on_result
        self._global = asyncio.Semaphore(max_in_flight)
        self._kind_limits = dict(kind_limits or {})
        self._kind_sems: dict[str, asyncio.Semaphore] = {}
        self._jobs: dict[Hashable, _Job] = {}
        self._heap: list[tuple[float, int, Hashable, int]] = []
        self._seq = 0
        self._generation = 0
        self._wake = asyncio.Event()
        self._in_flight = 0  # scheduled runs going (counted, not a walk of the jobs)
        self._anchor: float | None = None  # the phases' zero while `run` has not begun
        self._running = False
        self.stats = SchedulerStats()

    # -- configuration --

    def update(self, specs: Iterable[JobSpec]) -> UpdateSummary:
        """Make the job set equal to `specs`; unchanged jobs keep their schedule.

        A new job is first due at its phase of its interval, counted from the end of
        the update (20,000 jobs take half a second to build).  Before `run` begins the
        phases count from when it begins: whatever the daemon does between loading
        and scheduling (restoring state, settling the heap) makes no check late."""
        wanted = {spec.key: spec for spec in specs}
        removed = [k for k in self._jobs if k not in wanted]
        for key in removed:
            job = self._jobs.pop(key)
            if job.task is not None:
                job.task.cancel()
        added = changed = unchanged = 0
        new: list[_Job] = []
        for key, spec in wanted.items():
            old = self._jobs.get(key)
            if old is not None and old.spec == spec:
                unchanged += 1
                continue
            if old is None:
                added += 1
            else:
                changed += 1
            self._generation += 1
            job = _Job(spec, self._generation, due=phase(key) * spec.interval_s)
            if old is not None:  # a run in flight finishes; the next follows the new spec
                job.task, job.runs, job.skipped = old.task, old.runs, old.skipped
            self._jobs[key] = job
            new.append(job)
        now = asyncio.get_running_loop().time()
        if self._anchor is None and not self._running:
            self._anchor = now
        for job in new:
            job.due += now
            self._push(job)
        self._wake.set()
        return UpdateSummary(added, changed, len(removed), unchanged)

    def _push(self, job: _Job) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (job.due, self._seq, job.spec.key, job.generation))

    def job_counts(self, key: Hashable) -> tuple[int, int]:
        """(runs, skipped) of one job, for tests and status."""
        job = self._jobs[key]
        return job.runs, job.skipped

    @property
    def in_flight(self) -> int:
        """Scheduled runs currently going."""
        return self._in_flight

    def __len__(self) -> int:
        return len(self._jobs)

    # -- running --

    async def run(self) -> None:
        """Dispatch due jobs until cancelled; on cancellation, cancel runs in flight."""
        loop = asyncio.get_running_loop()
        self._running = True
        if self._anchor is not None:  # the phases count from now (see `update`)
            shift, self._anchor = loop.time() - self._anchor, None
            self._heap = [(due + shift, seq, key, gen) for due, seq, key, gen in self._heap]
            heapq.heapify(self._heap)
            for waiting in self._jobs.values():
                waiting.due += shift
        try:
            while True:
                now = loop.time()
                # Due within the clock's granularity counts as due: a timer set for
                # `due` may wake a hair early, and waiting again would spin.
                while self._heap and self._heap[0][0] <= now + _EPSILON:
                    due, _, key, generation = heapq.heappop(self._heap)
                    job = self._jobs.get(key)
                    if job is None or job.generation != generation:
                        continue  # removed or replaced since it was queued
                    self._dispatch(job, due, now)
                self._wake.clear()
                delay = self._heap[0][0] - loop.time() if self._heap else None
                if delay is None or delay > 0:
                    try:
                        async with asyncio.timeout(delay):
                            await self._wake.wait()
                    except TimeoutError:
                        pass
        finally:
            self._running = False
            await self._cancel_all()

    def run_now(self, key: Hashable) -> bool:
        """Run the job `key` now, out of turn (its schedule stays as it is); False
        when it is unknown or already running (that run will tell)."""
        job = self._jobs.get(key)
        if job is None or job.running:
            return False
        job.task = asyncio.create_task(self._execute(job.spec, None), name=f"check {key} now")
        job.runs += 1
        return True

    def _dispatch(self, job: _Job, due: float, now: float) -> None:
        if job.running:
            job.skipped += 1
            self.stats.skipped_total += 1
        else:
            job.task = asyncio.create_task(self._execute(job.spec, due),
                                           name=f"check {job.spec.key}")
            job.runs += 1
        interval = job.spec.interval_s
        job.due = due + interval
        if job.due <= now:  # fell behind: skip ahead, keeping the phase
            job.due += interval * math.ceil((now - job.due) / interval + 1e-9)
        self._push(job)

    async def _cancel_all(self) -> None:
        tasks = [job.task for job in self._jobs.values() if job.running]
        for task in tasks:
            assert task is not None
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # type: ignore[arg-type]

    def _kind_sem(self, kind: str) -> asyncio.Semaphore:
        sem = self._kind_sems.get(kind)
        if sem is None:
            sem = self._kind_sems[kind] = asyncio.Semaphore(self._kind_limits.get(kind, 10**9))
        return sem

    async def execute(self, spec: JobSpec, due: float | None = None) -> ProbeResult:
        """Run `spec` once under the concurrency limits and its time budget."""
        loop = asyncio.get_running_loop()
        async with self._global, self._kind_sem(spec.kind):
            start = loop.time()
            if due is not None:
                self.stats.lag_s.append(start - due)
            deadline = start + spec.timeout_s
            try:
                async with asyncio.timeout_at(deadline):
                    result = await self._run(spec, deadline)
            except TimeoutError:
                self.stats.timeouts_total += 1
                result = ProbeResult.timeout(spec.timeout_s)
            except ProbeError as exc:  # what the probe saw, though it should have said so
                result = exc.result()
            except Exception as exc:  # a probe bug must not take the scheduler down
                self.stats.crashes_total += 1
                log.exception("probe crashed: %s", spec.key)
                result = ProbeResult(Status.ERROR, Reason.PROBE_CRASHED,
                                     f"{type(exc).__name__}: {exc}")
            self.stats.runs_total += 1
            return result.with_latency(loop.time() - start)

    async def _execute(self, spec: JobSpec, due: float | None) -> None:
        self._in_flight += 1
        try:
            result = await self.execute(spec, due)
        finally:
            self._in_flight -= 1
        try:
            await self._on_result(spec, result)
        except Exception:
            log.exception("handling the result of %s failed", spec.key)
