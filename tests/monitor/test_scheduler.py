"""Scheduler behaviour on virtual time (looptime): schedule kept, isolation, skips, limits."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import pytest

from monitor.scheduler import JobSpec, Scheduler
from monitor.vocab import Status
from probes.result import ProbeResult, Reason
from probes.snmp.errors import SnmpTimeout

pytestmark = pytest.mark.looptime


class Recorder:
    """A probe function whose behaviour per job is chosen by the test."""

    def __init__(self, behaviour: Callable[[JobSpec], float | Exception] | None = None):
        self.behaviour = behaviour or (lambda spec: 0.0)
        self.starts: dict[object, list[float]] = defaultdict(list)
        self.results: dict[object, list[ProbeResult]] = defaultdict(list)
        self.in_flight = 0
        self.max_in_flight = 0
        self.by_kind: dict[str, int] = defaultdict(int)
        self.max_by_kind: dict[str, int] = defaultdict(int)

    async def run(self, spec: JobSpec, deadline: float) -> ProbeResult:
        loop = asyncio.get_running_loop()
        self.starts[spec.key].append(loop.time())
        self.in_flight += 1
        self.by_kind[spec.kind] += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.max_by_kind[spec.kind] = max(self.max_by_kind[spec.kind], self.by_kind[spec.kind])
        try:
            what = self.behaviour(spec)
            if isinstance(what, Exception):
                raise what
            await asyncio.sleep(what)
            return ProbeResult.ok()
        finally:
            self.in_flight -= 1
            self.by_kind[spec.kind] -= 1

    async def on_result(self, spec: JobSpec, result: ProbeResult) -> None:
        self.results[spec.key].append(result)


@contextlib.asynccontextmanager
async def running(scheduler: Scheduler) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(scheduler.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def spec(key: str, interval: float = 10.0, timeout: float = 5.0, kind: str = "noop") -> JobSpec:
    return JobSpec(key, kind, interval, timeout, payload=key)


async def test_hanging_probe_does_not_delay_100_others() -> None:
    rec = Recorder(lambda s: 60.0 if s.key == "hang" else 0.0)
    sched = Scheduler(rec.run, rec.on_result)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sched.update([spec(f"c{i}") for i in range(100)] + [spec("hang", timeout=90.0)])
    async with running(sched):
        await asyncio.sleep(120)
    for i in range(100):
        starts = rec.starts[f"c{i}"]
        assert len(starts) == 12, (i, starts)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(g == pytest.approx(10.0, abs=0.002) for g in gaps), (i, gaps)
        assert 0 <= starts[0] - t0 < 10.0
    assert sched.stats.lag_quantile(0.99) == pytest.approx(0.0, abs=0.002)
    # The hanging check ran twice (it hangs 60 s of its 10 s interval) and was skipped between.
    runs, skipped = sched.job_counts("hang")
    assert runs == 2
    assert skipped == 10
    assert all(r.status is Status.OK for r in rec.results["hang"])


async def test_run_still_going_is_skipped_never_overlapped() -> None:
    rec = Recorder(lambda s: 25.0)
    sched = Scheduler(rec.run, rec.on_result)
    sched.update([spec("slow", interval=10.0, timeout=30.0)])
    async with running(sched):
        await asyncio.sleep(95)
    assert rec.max_in_flight == 1
    starts = rec.starts["slow"]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == [pytest.approx(30.0, abs=0.002)] * len(gaps)  # runs at due+0, +30, +60...
    runs, skipped = sched.job_counts("slow")
    assert skipped == 2 * (runs - 1) or skipped == 2 * (runs - 1) + 1
    assert sched.stats.skipped_total == skipped


async def test_timeout_and_crash_become_results_and_others_continue() -> None:
    def behaviour(s: JobSpec) -> float | Exception:
        if s.key == "boom":
            return RuntimeError("probe bug")
        if s.key == "escaped":  # an error of the tree that a probe forgot to catch
            return SnmpTimeout("no answer from 127.0.0.1:161")
        if s.key == "slow":
            return 100.0
        return 0.0

    rec = Recorder(behaviour)
    sched = Scheduler(rec.run, rec.on_result)
    sched.update([spec("boom"), spec("slow", timeout=3.0), spec("fine"), spec("escaped")])
    async with running(sched):
        await asyncio.sleep(35)
    boom = rec.results["boom"]
    assert len(boom) >= 3
    assert {(r.status, r.reason) for r in boom} == {(Status.ERROR, Reason.PROBE_CRASHED)}
    assert "RuntimeError: probe bug" in boom[0].detail
    slow = rec.results["slow"]
    assert {(r.status, r.reason) for r in slow} == {(Status.TIMEOUT, Reason.TIMEOUT)}
    assert all(r.latency_s == pytest.approx(3.0, abs=0.01) for r in slow)
    assert len(rec.results["fine"]) == len(boom) == len(slow)
    escaped = rec.results["escaped"]  # what the device did, not a crash
    assert {(r.status, r.reason, r.detail) for r in escaped} == {
        (Status.TIMEOUT, Reason.TIMEOUT, "no answer from 127.0.0.1:161")}
    assert sched.stats.crashes_total == len(boom)
    assert sched.stats.timeouts_total == len(slow)


async def test_first_runs_are_spread_across_the_interval() -> None:
    rec = Recorder()
    sched = Scheduler(rec.run, rec.on_result)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sched.update([spec(f"d{i}", interval=60.0) for i in range(1200)])
    async with running(sched):
        await asyncio.sleep(60.5)
    firsts = [rec.starts[f"d{i}"][0] - t0 for i in range(1200)]
    assert all(0 <= t < 60 for t in firsts)
    buckets = defaultdict(int)
    for t in firsts:
        buckets[int(t // 6)] += 1
    # 10 buckets of 6 s, 120 expected in each; a start-up burst would pile them into one.
    assert len(buckets) == 10
    assert max(buckets.values()) < 180


async def test_the_phases_count_from_when_the_scheduler_starts() -> None:
    """Between building the jobs and running them the daemon restores its state and
    settles its heap (0.7 s at 20,000 checks, bench/stalls.py): no first run is late
    for that.  Measured before: a quarter-minute of lag p99 above 200 ms at start."""
    rec = Recorder()
    sched = Scheduler(rec.run, rec.on_result)
    loop = asyncio.get_running_loop()
    sched.update([spec(f"d{i}", interval=60.0) for i in range(600)])
    await asyncio.sleep(5)  # restoring, settling
    t0 = loop.time()
    async with running(sched):
        await asyncio.sleep(60.5)
    firsts = sorted(rec.starts[f"d{i}"][0] - t0 for i in range(600))
    assert firsts[0] >= 0 and firsts[-1] < 60
    assert sum(t < 5 for t in firsts) < 100  # ~50 expected: not all those due meanwhile
    lag = sched.stats.lag_quantile(0.99)
    assert lag is not None and lag < 0.01


async def test_update_keeps_unchanged_schedules_and_applies_changes() -> None:
    rec = Recorder()
    sched = Scheduler(rec.run, rec.on_result)
    sched.update([spec("same"), spec("changed"), spec("removed")])
    async with running(sched):
        await asyncio.sleep(25)
        before_same = list(rec.starts["same"])
        t_update = asyncio.get_running_loop().time()
        summary = sched.update([spec("same"), spec("changed", interval=5.0), spec("added")])
        assert (summary.added, summary.changed, summary.removed, summary.unchanged) == \
            (1, 1, 1, 1)
        removed_runs = len(rec.starts["removed"])
        await asyncio.sleep(30)
    same = rec.starts["same"]
    assert same[: len(before_same)] == before_same
    gaps = [b - a for a, b in itertools.pairwise(same)]
    assert all(g == pytest.approx(10.0, abs=0.002) for g in gaps)  # not disturbed by the update
    assert len(rec.starts["removed"]) == removed_runs
    changed_after = [t for t in rec.starts["changed"] if t >= t_update]
    gaps = [b - a for a, b in itertools.pairwise(changed_after)]
    assert gaps
    assert all(g == pytest.approx(5.0, abs=0.002) for g in gaps)
    assert len(rec.starts["added"]) == 3


async def test_concurrency_is_bounded_globally_and_per_kind() -> None:
    # Each run takes 1 s of a 2 s interval: unbounded, ~30 would be in flight at once.
    rec = Recorder(lambda s: 1.0)
    sched = Scheduler(rec.run, rec.on_result, max_in_flight=8, kind_limits={"snmp": 3})
    sched.update([spec(f"s{i}", kind="snmp", interval=2.0, timeout=1.5) for i in range(20)]
                 + [spec(f"t{i}", kind="tcp", interval=2.0, timeout=1.5) for i in range(40)])
    async with running(sched):
        await asyncio.sleep(30)
    assert rec.max_in_flight == 8
    assert rec.max_by_kind["snmp"] == 3
    assert sched.stats.skipped_total > 0  # waiting for a slot counts as running


async def test_cancelling_the_scheduler_cancels_runs_in_flight() -> None:
    cancelled = asyncio.Event()

    async def run(spec: JobSpec, deadline: float) -> ProbeResult:
        try:
            await asyncio.sleep(1000)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return ProbeResult.ok()

    async def on_result(spec: JobSpec, result: ProbeResult) -> None:
        raise AssertionError("a cancelled run has no result")

    sched = Scheduler(run, on_result)
    sched.update([spec("x", interval=10.0, timeout=2000.0)])
    async with running(sched):
        await asyncio.sleep(11)
        assert sched.in_flight == 1
    assert cancelled.is_set()
    assert sched.in_flight == 0


async def test_run_now_runs_out_of_turn_and_keeps_the_schedule() -> None:
    """A camera's event re-runs its checks at once: one run now, never two at once,
    and the regular runs stay where they were."""
    rec = Recorder(lambda s: 2.0)
    sched = Scheduler(rec.run, rec.on_result)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sched.update([spec("cam", interval=100.0, timeout=10.0)])
    async with running(sched):
        await asyncio.sleep(1)
        regular = sched._jobs["cam"].due
        assert sched.run_now("cam") is True
        assert sched.run_now("cam") is False  # already running: that run will tell
        assert sched.run_now("nobody") is False
        await asyncio.sleep(250)
    starts = [round(s - t0, 3) for s in rec.starts["cam"]]
    assert starts[0] == pytest.approx(1.0, abs=0.01)  # the run now
    assert starts[1:] == [pytest.approx(regular - t0 + i * 100, abs=0.01)
                          for i in range(len(starts) - 1)]
    assert len(rec.results["cam"]) == len(starts)
