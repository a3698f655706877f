"""What every probe is given and how a probe kind is described.

Every probe has one signature, ``async def run(target, params, ctx) -> ProbeResult``,
and is registered by name in `probes.registry.PROBES` (the way blackbox_exporter
maps "tcp" and "icmp" to prober functions).  The caller -- the scheduler -- owns
the time budget: it wraps the call in ``asyncio.timeout`` and tells the probe the
deadline through `ProbeContext`, so library timeouts can be set from what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from probes.clients import SharedClients
from probes.result import ProbeResult


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
