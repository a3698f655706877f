"""Per-check state: hysteresis between UP, WARNING and DOWN, and flapping.

Each result points at a state: ``ok`` → UP, ``warning`` → WARNING, ``down``,
``timeout`` and ``error`` → DOWN.  The check moves there only after enough
consecutive results point the same way:

* to a worse state (UP → WARNING, anything → DOWN): ``fail_after`` results;
* to a better state (DOWN → UP/WARNING, WARNING → UP): ``recover_after`` results;
* from UNKNOWN (just configured): UP or WARNING at once, DOWN after ``fail_after``.

A check is *flapping* while its state changed at least ``flap_changes`` times
within ``flap_window`` seconds; it stops flapping when the changes in the window
fall to half that (hysteresis, so the flag itself does not flap).  Times are
wall-clock seconds since the epoch, passed in, so the machine is pure and the
scenario tests drive it without a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from monitor.vocab import Status
from probes.result import ProbeResult


class CheckState(StrEnum):
    """The debounced state of one check."""

    UNKNOWN = "unknown"
    UP = "up"
    WARNING = "warning"
    DOWN = "down"


_SEVERITY = {CheckState.UNKNOWN: -1, CheckState.UP: 0, CheckState.WARNING: 1, CheckState.DOWN: 2}


def target_state(status: Status) -> CheckState:
    """The state a single result points at."""
    if status is Status.OK:
        return CheckState.UP
    if status is Status.WARNING:
        return CheckState.WARNING
    return CheckState.DOWN


@dataclass(frozen=True, slots=True)
class Change:
    """What feeding one result changed (both fields None: nothing)."""

    old: CheckState | None = None
    new: CheckState | None = None
    flapping: bool | None = None  # set when the flapping flag itself changed

    @property
    def state_changed(self) -> bool:
        """Whether the state moved."""
        return self.new is not None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything needed to restore a check's machine after a restart."""

    state: CheckState
    since: float | None
    flapping: bool
    streak_state: CheckState | None
    streak: int
    changes: tuple[float, ...]
    last_result: ProbeResult | None
    last_run_at: float | None
    learned: Mapping[str, Any] = field(default_factory=dict)  # what the probe learned


@dataclass(slots=True)
class StateMachine:
    """Hysteresis and flap detection for one check."""

    fail_after: int = 3
    recover_after: int = 2
    flap_window_s: float = 1800.0
    flap_changes: int = 6
    state: CheckState = CheckState.UNKNOWN
    since: float | None = None
    flapping: bool = False
    streak_state: CheckState | None = None
    streak: int = 0
    # the times of recent state changes (a tuple: 40 bytes empty, a deque 760 -- and
    # most checks never change; 15 MB for 20,000 checks)
    changes: tuple[float, ...] = ()
    last_result: ProbeResult | None = None
    last_run_at: float | None = None
    # What the probe learned about this device (a camera's normal picture), kept
    # for its next runs: `ProbeResult.learned`, `ProbeContext.learned`.
    learned: Mapping[str, Any] = field(default_factory=dict)

    def _needed(self, target: CheckState) -> int:
        if self.state is CheckState.UNKNOWN:
            return self.fail_after if target is CheckState.DOWN else 1
        worse = _SEVERITY[target] > _SEVERITY[self.state]
        return self.fail_after if worse else self.recover_after

    def feed(self, result: ProbeResult, now: float) -> Change:
        """Account for one result at time `now`; say what changed."""
        self.last_result = result
        self.last_run_at = now
        target = target_state(result.status)
        old = self.state
        new: CheckState | None = None
        if target is self.state:
            self.streak_state, self.streak = None, 0
        else:
            if target is self.streak_state:
                self.streak += 1
            else:
                self.streak_state, self.streak = target, 1
            if self.streak >= self._needed(target):
                new = target
                if old is not CheckState.UNKNOWN:
                    self.changes = (*self.changes, now)
                self.state, self.since = target, now
                self.streak_state, self.streak = None, 0
        flap = self._update_flapping(now)
        return Change(old if new is not None else None, new, flap)

    def _update_flapping(self, now: float) -> bool | None:
        if self.changes and self.changes[0] <= now - self.flap_window_s:
            self.changes = tuple(t for t in self.changes if t > now - self.flap_window_s)
        count = len(self.changes)
        if not self.flapping and count >= self.flap_changes:
            self.flapping = True
            return True
        if self.flapping and count <= self.flap_changes // 2:
            self.flapping = False
            return False
        return None

    def snapshot(self) -> Snapshot:
        """The state to persist."""
        return Snapshot(self.state, self.since, self.flapping, self.streak_state, self.streak,
                        tuple(self.changes), self.last_result, self.last_run_at,
                        self.learned)

    def restore(self, snap: Snapshot) -> None:
        """Continue from a persisted snapshot."""
        self.state, self.since, self.flapping = snap.state, snap.since, snap.flapping
        self.streak_state, self.streak = snap.streak_state, snap.streak
        self.changes = tuple(snap.changes)
        self.last_result, self.last_run_at = snap.last_result, snap.last_run_at
        self.learned = snap.learned
