"""Run one probe the way the daemon does: under the scheduler's budget."""

from __future__ import annotations

import asyncio
from typing import Any

from monitor.scheduler import JobSpec, Scheduler
from probes.base import ProbeContext, ProbeKind, Target
from probes.clients import SharedClients
from probes.result import ProbeResult


async def run_probe(kind: ProbeKind[Any], target: Target, params: Any, clients: SharedClients,
                    budget: float) -> ProbeResult:
    """The result `kind` gives within `budget` seconds (a hang becomes ``timeout``)."""

    async def run(spec: JobSpec, deadline: float) -> ProbeResult:
        return await kind.run(target, params, ProbeContext(deadline, clients))

    async def ignore(spec: JobSpec, result: ProbeResult) -> None:
        pass

    scheduler = Scheduler(run, ignore)
    spec = JobSpec(("test", kind.name), kind.name, budget * 2, budget, None)
    return await scheduler.execute(spec, asyncio.get_running_loop().time())
