"""What every probe is given and how a probe kind is described.

Every probe has one signature, ``async def run(target, params, ctx) -> ProbeResult``,
and is registered by name in `probes.registry.PROBES` (the way blackbox_exporter
maps "tcp" and "icmp" to prober functions).  The caller -- the scheduler -- owns
the time budget: it wraps the call in ``asyncio.timeout`` and tells the probe the
deadline through `ProbeContext`, so library timeouts can be set from what is left.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from probes.clients import SharedClients
from probes.result import ProbeResult

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


MAX_DURATION_S = 366 * 86400.0  # longer is surely a typo (and overflows timers)


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as ``500ms``, ``30s``, ``5m``, ``1h``, ``1d``;
    finite, not negative, at most a year."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '30s'")
    seconds: float | None = None
    if isinstance(value, int | float):
        seconds = float(value) if isinstance(value, float) or abs(value) < 10**12 else math.inf
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if m and len(m.group(1)) <= 20:
            seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds is not None:
        if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
            raise ValueError(f"{value!r} is not a sensible duration (at most a year)")
        if seconds < 0:
            raise ValueError(f"{value!r}: a duration cannot be negative")
        return seconds
    raise ValueError(
        f"{value!r} is not a duration (use seconds or e.g. '500ms', '30s', '5m', '1h')")


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(ge=0),
    WithJsonSchema({"anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"},
    ], "description": "seconds, or a string such as 250ms, 30s, 5m, 1h, 1d"}),
]
"""Seconds; YAML may say ``30``, ``30s``, ``5m``, ``1h`` or ``250ms``."""


class ProbeParams(BaseModel):
    """Base of each probe kind's own parameters (strict: unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Resolved credentials for one device (secrets already read from env or file)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    community: str | None = field(default=None, repr=False)
    snmp_user: str | None = None
    auth_protocol: str | None = None
    auth_key: str | None = field(default=None, repr=False)
    priv_protocol: str | None = None
    priv_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Target:
    """The device a probe looks at."""

    device_id: str
    device_kind: str
    address: str
    credentials: Credentials = field(default_factory=Credentials)


@dataclass(slots=True)
class ProbeContext:
    """Per-run context: the deadline set by the scheduler and the shared clients."""

    deadline: float
    clients: SharedClients
    # This check's previous result (for counter rates, reboot and drift detection);
    # None on the first run and in `monitor once`.
    previous: ProbeResult | None = None
    # Ports of this device (a switch) with an inventory device behind them: written in
    # the inventory or learned from forwarding tables (`monitor.topology`).
    attached: frozenset[str] = frozenset()
    # What this check's earlier runs learned (`ProbeResult.learned`); empty at first.
    learned: Mapping[str, Any] = field(default_factory=dict)

    def remaining(self) -> float:
        """Seconds left of this run's budget (never negative)."""
        return max(0.0, self.deadline - asyncio.get_running_loop().time())


P = TypeVar("P", bound=ProbeParams)
ProbeFn = Callable[[Target, P, ProbeContext], Awaitable[ProbeResult]]


@dataclass(frozen=True)
class ProbeKind(Generic[P]):
    """A registered probe: its name, its parameter model and its function."""

    name: str
    params: type[P]
    run: ProbeFn[P]
    summary: str
    default_interval_s: float = 60.0
    default_timeout_s: float = 10.0
    # Upper bound on this kind's runs in flight, unless settings say otherwise.
    default_concurrency: int = 200
    # Thresholds applied to the values this probe reports, unless the check overrides them.
    default_thresholds: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Credential fields (of `Credentials`) a check of this kind cannot run without.
    required_credentials: Callable[[P], tuple[str, ...]] | None = None
