"""The one shape every probe returns.

A probe reports what it saw as a `ProbeResult`; it never raises for a device
that is down, slow or speaking nonsense.  Only a bug raises, and the scheduler
turns that into a result with status ``error`` and reason ``probe_crashed``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from monitor.vocab import Reason, Status

__all__ = ["ProbeEvent", "ProbeResult", "Reason", "Status", "Value"]

Value = float | int | str | bool | None
INTERN_MAX = 256  # longer texts are kept as they come


@dataclass(frozen=True, slots=True)
class ProbeEvent:
    """Something that happened once, whatever the state: a reboot, inventory drift."""

    kind: str
    detail: str
    values: Mapping[str, Value] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The public JSON form."""
        return {"kind": self.kind, "detail": self.detail, "values": dict(self.values)}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one run of one check saw.

    Value names are ``name`` or ``name[label]`` (one series per label, e.g.
    ``if_in_bps[Gi0/1]``); thresholds on ``name`` apply to every label.
    """

    status: Status
    reason: str = Reason.OK
    detail: str = ""
    latency_s: float | None = None
    values: Mapping[str, Value] = field(default_factory=dict)
    events: tuple[ProbeEvent, ...] = ()
    # What the probe learned about the device (JSON-ready), to be handed back to its
    # next runs as `ProbeContext.learned` and kept across restarts; None: unchanged.
    learned: Mapping[str, Any] | None = None

    @classmethod
    def ok(cls, detail: str = "", *, latency_s: float | None = None,
           values: Mapping[str, Value] | None = None) -> ProbeResult:
        """A successful run."""
        return cls(Status.OK, Reason.OK, detail, latency_s, dict(values or {}))

    @classmethod
    def down(cls, reason: str, detail: str, *, latency_s: float | None = None,
             values: Mapping[str, Value] | None = None) -> ProbeResult:
        """The device answered (or failed to) in a way that means it is not working."""
        return cls(Status.DOWN, reason, detail, latency_s, dict(values or {}))

    @classmethod
    def error(cls, reason: str, detail: str, *, latency_s: float | None = None) -> ProbeResult:
        """The check itself could not be carried out (protocol error, bad reply)."""
        return cls(Status.ERROR, reason, detail, latency_s)

    @classmethod
    def timeout(cls, budget_s: float) -> ProbeResult:
        """The run did not finish within its budget."""
        return cls(Status.TIMEOUT, Reason.TIMEOUT, f"no answer within {budget_s:g} s", budget_s)

    def with_latency(self, latency_s: float) -> ProbeResult:
        """This result with `latency_s` filled in when the probe left it empty."""
        if self.latency_s is not None:
            return self
        return replace(self, latency_s=latency_s)

    def interned(self) -> ProbeResult:
        """This result with its value names and short texts interned: every device
        reports the same names (``if_in_bps[Gi0/1]``) and mostly the same texts at
        every run, and the core keeps each check's last result."""
        if not self.values:
            return self
        return replace(self, values={
            sys.intern(k): sys.intern(v) if isinstance(v, str) and len(v) <= INTERN_MAX else v
            for k, v in self.values.items()})

    def to_json(self) -> dict[str, Any]:
        """The public JSON form (`monitor once --format json`), minus device and check."""
        return {
            "status": self.status.value,
            "reason": str(self.reason),
            "detail": self.detail,
            "latency_s": _finite(self.latency_s),
            "values": {k: _finite(v) if isinstance(v, float) else v
                       for k, v in self.values.items()},
            "events": [e.to_json() for e in self.events],
        }


def _finite(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(x, 6)
