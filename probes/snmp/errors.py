"""SNMP errors: the `SnmpError` branch of the probes' one error tree (drawn, with the
reason each reports, in `probes.errors`).  The probe turns each into a `ProbeResult`;
none escapes it.
"""

from __future__ import annotations

from probes.errors import ProbeError
from probes.result import Reason, Status


class SnmpError(ProbeError):
    """Base of SNMP failures."""

    reason = Reason.PROTOCOL_ERROR
    status = Status.ERROR  # the check could not be carried out


class SnmpTimeout(SnmpError):
    """No response within the time given."""

    reason = Reason.TIMEOUT
    status = Status.TIMEOUT


class SnmpMalformed(SnmpError):
    """The agent sent bytes that are not a valid response."""

    reason = Reason.MALFORMED_RESPONSE


class SnmpAuthFailed(SnmpError):
    """SNMPv3 authentication or privacy failed (wrong user, key or engine time)."""

    reason = Reason.AUTH_FAILED
    status = Status.DOWN


class SnmpAgentError(SnmpError):
    """The response carries a non-zero error-status."""

    reason = Reason.AGENT_ERROR

    STATUS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr",
              "noAccess", "wrongType", "wrongLength", "wrongEncoding", "wrongValue",
              "noCreation", "inconsistentValue", "resourceUnavailable", "commitFailed",
              "undoFailed", "authorizationError", "notWritable", "inconsistentName")

    def __init__(self, status: int, index: int) -> None:
        self.error_status, self.index = status, index
        name = self.STATUS[status] if 0 <= status < len(self.STATUS) else str(status)
        super().__init__(f"agent answered {name} (error-index {index})")


class SnmpUnreachable(SnmpError):
    """The agent cannot be addressed."""

    reason = Reason.UNREACHABLE
    status = Status.DOWN
