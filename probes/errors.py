"""The probes' errors: one tree, each error carrying the reason its result reports.

    ProbeError                    reason, status (class default; a raise may name another)
    ├── SnmpError                 protocol_error, error
    │   ├── SnmpTimeout           timeout, timeout    no answer (a wrong v1/v2c community,
    │   │                                          too: agents drop those silently)
    │   ├── SnmpMalformed         malformed_response, error  a reply that is not valid SNMP
    │   ├── SnmpAuthFailed        auth_failed, down   v3: the agent's report PDU says so
    │   ├── SnmpAgentError        agent_error, error  error-status in the response (tooBig, …)
    │   └── SnmpUnreachable       unreachable, down   no route, or the name does not resolve
    ├── RtspError                 per raise, down  the RTSP exchange: refused, not_found,
    │                                              auth_failed, malformed_sdp, no_video, …
    └── GrabError                 per raise, down  pulling frames: no_frames,
                                                   too_few_frames, stream_error, …

Every reason is a `Reason` (`monitor.vocab`).  A probe turns what it catches into a
`ProbeResult` (`error.result()`); if one escapes a probe all the same, the scheduler
reports it as that result, not as a crash (`probe_crashed` is for bugs alone).
"""

from __future__ import annotations

from probes.result import ProbeResult, Reason, Status


class ProbeError(Exception):
    """A check could not see its device working; `reason` and `status` say how."""

    reason: Reason = Reason.PROTOCOL_ERROR
    status: Status = Status.DOWN

    def __init__(self, detail: str = "", reason: Reason | None = None,
                 status: Status | None = None) -> None:
        super().__init__(detail)
        if reason is not None:
            self.reason = reason
        if status is not None:
            self.status = status

    @property
    def detail(self) -> str:
        """For humans."""
        return str(self)

    def result(self, latency_s: float | None = None) -> ProbeResult:
        """The result this error reports."""
        return ProbeResult(self.status, self.reason, self.detail, latency_s)
