"""The per-check state machine as a scenario table: results in, changes out."""

from __future__ import annotations

import pytest

from monitor.state import CheckState, StateMachine
from monitor.vocab import Status
from probes.result import ProbeResult

U, W, D, X = CheckState.UNKNOWN, CheckState.UP, CheckState.WARNING, CheckState.DOWN
R = {
    "ok": ProbeResult(Status.OK),
    "warn": ProbeResult(Status.WARNING, "disk_high"),
    "down": ProbeResult(Status.DOWN, "refused"),
    "timeout": ProbeResult.timeout(5),
    "error": ProbeResult(Status.ERROR, "protocol_error"),
}

# (name, fail_after, recover_after, results one per 60 s, expected (index, old, new) changes)
SCENARIOS = [
    ("first ok is up at once", 3, 2, ["ok"], [(0, U, W)]),
    ("first warning is warning at once", 3, 2, ["warn"], [(0, U, D)]),
    ("down from unknown needs fail_after", 3, 2, ["down", "down", "down"], [(2, U, X)]),
    ("two failures are not enough", 3, 2, ["ok", "down", "down", "ok", "down", "down"],
     [(0, U, W)]),
    ("timeouts and errors count as failures", 3, 2, ["ok", "timeout", "error", "down"],
     [(0, U, W), (3, W, X)]),
    ("recovery needs recover_after", 3, 2, ["ok", "down", "down", "down", "ok", "ok"],
     [(0, U, W), (3, W, X), (5, X, W)]),
    ("a failure resets the recovery streak", 3, 2,
     ["ok", "down", "down", "down", "ok", "down", "ok", "ok"],
     [(0, U, W), (3, W, X), (7, X, W)]),
    ("fail_after 1 goes down at once", 1, 1, ["ok", "down", "ok"],
     [(0, U, W), (1, W, X), (2, X, W)]),
    ("up to warning is a worsening", 2, 2, ["ok", "warn", "warn", "ok", "ok"],
     [(0, U, W), (2, W, D), (4, D, W)]),
    ("down recovers to warning", 2, 2, ["ok", "down", "down", "warn", "warn"],
     [(0, U, W), (2, W, X), (4, X, D)]),
    ("warnings and oks mixed do not move", 2, 2, ["ok", "warn", "ok", "warn", "ok"],
     [(0, U, W)]),
]


@pytest.mark.parametrize(("fail_after", "recover_after", "results", "expected"),
                         [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_scenarios(fail_after: int, recover_after: int, results: list[str],
                   expected: list[tuple[int, CheckState, CheckState]]) -> None:
    machine = StateMachine(fail_after=fail_after, recover_after=recover_after)
    changes = []
    for i, name in enumerate(results):
        change = machine.feed(R[name], now=1000.0 + 60 * i)
        if change.state_changed:
            changes.append((i, change.old, change.new))
    assert changes == expected
    assert machine.last_result == R[results[-1]]
    if expected:
        assert machine.since == 1000.0 + 60 * expected[-1][0]


def test_flapping_starts_and_stops_with_hysteresis() -> None:
    machine = StateMachine(fail_after=1, recover_after=1, flap_window_s=600, flap_changes=4)
    flags = []
    t = 0.0
    # Alternate every minute: a change per result after the first.
    for i in range(8):
        change = machine.feed(R["ok" if i % 2 == 0 else "down"], now=t)
        if change.flapping is not None:
            flags.append((t, change.flapping))
        t += 60
    assert flags == [(240.0, True)]  # the 4th change (UNKNOWN → UP does not count)
    assert machine.flapping
    # Steady from now on: changes age out of the 10-minute window.
    while t < 2000:
        change = machine.feed(R["down"], now=t)
        if change.flapping is not None:
            flags.append((t, change.flapping))
        t += 60
    # 7 changes at 60..420; flapping stops when at most 2 remain (360, 420): the one at
    # 300 leaves the window at 300 + 600.
    assert flags[1] == (900.0, False)
    assert not machine.flapping


def test_snapshot_restores_the_same_machine() -> None:
    a = StateMachine(fail_after=3, recover_after=2)
    for i, name in enumerate(["ok", "down", "down", "down", "ok"]):
        a.feed(R[name], now=float(i))
    b = StateMachine(fail_after=3, recover_after=2)
    b.restore(a.snapshot())
    assert b.snapshot() == a.snapshot()
    # One more ok completes the recovery streak begun before the "restart".
    assert b.feed(R["ok"], now=10.0).new is W
