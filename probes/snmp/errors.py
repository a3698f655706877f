"""SNMP errors, each carrying the reason code its result reports.

    SnmpError                     reason
    ├── SnmpTimeout               timeout          no answer (a wrong v1/v2c community, too:
    │                                              agents drop those silently, by design)
    ├── SnmpMalformed             malformed_response  a reply that is not valid SNMP
    ├── SnmpAuthFailed            auth_failed      v3: the agent's report PDU says so
    ├── SnmpAgentError            agent_error      error-status in the response (tooBig, genErr, …)
    └── SnmpUnreachable           unreachable      no route, or the name does not resolve

The probe turns each into a `ProbeResult`; none escapes it.
"""

from __future__ import annotations


class SnmpError(Exception):
    """Base of SNMP failures."""

    reason = "protocol_error"


class SnmpTimeout(SnmpError):
    """No response within the time given."""

    reason = "timeout"


class SnmpMalformed(SnmpError):
    """The agent sent bytes that are not a valid response."""

    reason = "malformed_response"


class SnmpAuthFailed(SnmpError):
    """SNMPv3 authentication or privacy failed (wrong user, key or engine time)."""

    reason = "auth_failed"


class SnmpAgentError(SnmpError):
    """The response carries a non-zero error-status."""

    reason = "agent_error"

    STATUS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr",
              "noAccess", "wrongType", "wrongLength", "wrongEncoding", "wrongValue",
              "noCreation", "inconsistentValue", "resourceUnavailable", "commitFailed",
              "undoFailed", "authorizationError", "notWritable", "inconsistentName")

    def __init__(self, status: int, index: int) -> None:
        self.status, self.index = status, index
        name = self.STATUS[status] if 0 <= status < len(self.STATUS) else str(status)
        super().__init__(f"agent answered {name} (error-index {index})")


class SnmpUnreachable(SnmpError):
    """The agent cannot be addressed."""

    reason = "unreachable"
