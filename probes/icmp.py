"""ICMP echo (ping): reachability, round-trip time and loss."""

from __future__ import annotations

from icmplib import async_ping
from icmplib.exceptions import ICMPLibError, NameLookupError, SocketPermissionError
from pydantic import Field

from monitor.vocab import Duration, Status
from probes.base import ProbeContext, ProbeKind, ProbeParams, Target
from probes.result import ProbeResult, Reason


class IcmpParams(ProbeParams):
    """Parameters of an ``icmp`` check."""

    count: int = Field(default=3, ge=1, le=20, description="echo requests per run")
    spacing: Duration = Field(default=0.2, le=5.0, description="pause between requests")
    payload_size: int = Field(default=56, ge=0, le=1472, description="ICMP payload bytes")


async def run(target: Target, params: IcmpParams, ctx: ProbeContext) -> ProbeResult:
    """Send `count` echo requests and report RTT and loss."""
    # icmplib sends one request, waits up to `timeout` for its reply, then sleeps
    # `interval`; share what is left of the budget across the requests.
    waits = (ctx.remaining() * 0.9 - (params.count - 1) * params.spacing) / params.count
    try:
        host = await async_ping(
            target.address,
            count=params.count,
            interval=params.spacing,
            timeout=max(0.05, waits),
            payload_size=params.payload_size,
            privileged=not ctx.clients.icmp_unprivileged,
        )
    except NameLookupError:
        return ProbeResult.down(Reason.DNS_FAILED, f"cannot resolve {target.address}")
    except SocketPermissionError:
        return ProbeResult.error(
            Reason.ICMP_NOT_PERMITTED,
            "no permission for ICMP sockets: grant CAP_NET_RAW or widen net.ipv4.ping_group_range",
        )
    except ICMPLibError as exc:
        return ProbeResult.error(Reason.PROTOCOL_ERROR, f"ping {target.address}: {exc}")
    # Loss against what was asked for: a request that could not even be sent (no
    # route) is lost too, where icmplib's own ratio counts only what left.
    values = {
        "packets_sent": host.packets_sent,
        "packets_received": host.packets_received,
        "loss_ratio": 1 - host.packets_received / params.count,
    }
    if not host.is_alive:
        why = (f"no echo reply from {target.address} ({host.packets_sent} sent)"
               if host.packets_sent else f"cannot send to {target.address} (no route)")
        return ProbeResult(Status.DOWN, Reason.UNREACHABLE, why, None, values)
    rtt = {"rtt_avg_s": host.avg_rtt / 1000, "rtt_max_s": host.max_rtt / 1000,
           "rtt_jitter_s": host.jitter / 1000}
    return ProbeResult.ok(
        f"{host.packets_received}/{host.packets_sent} replies, avg {host.avg_rtt:.2f} ms",
        latency_s=rtt["rtt_avg_s"], values=values | rtt,
    )


PROBE = ProbeKind(
    name="icmp",
    params=IcmpParams,
    run=run,
    summary="ICMP echo: reachability, round-trip time, loss",
    default_interval_s=60.0,
    default_timeout_s=5.0,
    default_thresholds={"loss_ratio": {"warning": 0.2}, "rtt_avg_s": {"warning": 0.5}},
)
