"""TCP connect: the service port accepts a connection."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket

from pydantic import Field

from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.result import ProbeResult, Reason

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


class TcpParams(ProbeParams):
    """Parameters of a ``tcp`` check."""

    port: int = Field(ge=1, le=65535, description="TCP port that must accept a connection")


async def run(target: Target, params: TcpParams, ctx: ProbeContext) -> ProbeResult:
    """Open a TCP connection to the device's port and close it again."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    where = f"{target.address}:{params.port}"
    try:
        _, writer = await asyncio.open_connection(target.address, params.port)
    except ConnectionRefusedError:
        return ProbeResult.down(Reason.REFUSED, f"{where} refused the connection",
                                latency_s=loop.time() - start)
    except socket.gaierror as exc:
        return ProbeResult.down(Reason.DNS_FAILED,
                                f"cannot resolve {target.address}: {exc.strerror}")
    except OSError as exc:
        reason = Reason.UNREACHABLE if exc.errno in _UNREACHABLE else Reason.PROTOCOL_ERROR
        return ProbeResult.down(reason, f"{where}: {exc.strerror or exc}",
                                latency_s=loop.time() - start)
    latency = loop.time() - start
    writer.close()
    # A reset while closing says nothing about whether the port accepts connections.
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult.ok(f"{where} accepted", latency_s=latency, values={"connect_s": latency})


PROBE = ProbeKind(
    name="tcp",
    params=TcpParams,
    run=run,
    summary="TCP connect to a service port",
    default_interval_s=60.0,
    default_timeout_s=5.0,
)
