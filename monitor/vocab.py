"""The shared vocabulary: types that the core, the probes and the readers (alerts,
exporters) all speak, defined here once so that none of them imports another layer
for a word.  A leaf: it imports nothing of this project (a test keeps it so).
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema

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


class Status(StrEnum):
    """How a single probe run ended."""

    OK = "ok"
    WARNING = "warning"
    DOWN = "down"
    TIMEOUT = "timeout"
    ERROR = "error"

    @property
    def is_failure(self) -> bool:
        """True for the statuses that count towards DOWN."""
        return self in (Status.DOWN, Status.TIMEOUT, Status.ERROR)


class Reason(StrEnum):
    """Why a check ended as it did: the one list of the machine codes a result carries.

    The probes return these (and no other string: a test reads their source), the fault
    rules match them, the dashboards turn them into words and the README lists them (a
    test keeps the list equal to this one).  A threshold that fires adds one form more:
    ``<value>_high`` / ``<value>_low`` (e.g. ``storage_used_ratio_high``), or the code
    the inventory's threshold names.
    """

    # -- any probe
    OK = "ok"
    UNREACHABLE = "unreachable"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    AUTH_FAILED = "auth_failed"
    DNS_FAILED = "dns_failed"
    PROTOCOL_ERROR = "protocol_error"
    PROBE_CRASHED = "probe_crashed"
    ICMP_NOT_PERMITTED = "icmp_not_permitted"
    # -- SNMP
    MALFORMED_RESPONSE = "malformed_response"
    AGENT_ERROR = "agent_error"
    NO_SUCH_OBJECT = "no_such_object"
    REBOOTED = "rebooted"
    INVENTORY_DRIFT = "inventory_drift"
    PORT_DOWN = "port_down"
    UPLINK_DOWN = "uplink_down"
    UPLINK_MISSING = "uplink_missing"
    SENSOR_FAILED = "sensor_failed"
    # -- RTSP and the picture
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"
    MALFORMED_SDP = "malformed_sdp"
    NO_VIDEO = "no_video"
    NO_FRAMES = "no_frames"
    TOO_FEW_FRAMES = "too_few_frames"
    STREAM_ERROR = "stream_error"
    HTTP_ERROR = "http_error"
    BLACK_SCREEN = "black_screen"
    SIGNAL_LOSS = "signal_loss"
    FROZEN = "frozen"
    BLURRED = "blurred"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    COLOUR_CAST = "colour_cast"
    NOISE = "noise"
    OCCLUDED = "occluded"
    NO_COLOUR = "no_colour"
    # -- ONVIF
    SOAP_FAULT = "soap_fault"
    NO_PROFILE = "no_profile"
    CLOCK_SKEW_AUTH = "clock_skew_auth"
    CLOCK_DRIFT = "clock_drift"
    PTZ_ERROR = "ptz_error"
    PTZ_STUCK = "ptz_stuck"
    PTZ_UNSUPPORTED = "ptz_unsupported"
    PTZ_NOT_RETURNED = "ptz_not_returned"
    NOT_RECORDING = "not_recording"
    RECORDING_UNSUPPORTED = "recording_unsupported"
    # -- the central servers
    AUTH_FAIL_OPEN = "auth_fail_open"
    HTTP_STATUS = "http_status"
    BODY_MISMATCH = "body_mismatch"
    TLS_INVALID = "tls_invalid"
    TLS_CERT_EXPIRING = "tls_cert_expiring"
    UNEXPECTED_REPLY = "unexpected_reply"
    NO_BACKUP = "no_backup"
    BAD_BACKUP_STATUS = "bad_backup_status"
    BACKUP_STALE = "backup_stale"
    LOGIN_SLOW = "login_slow"
    LOGIN_UNCLEAR = "login_unclear"
    # -- the viewing path (``path``)
    LOGIN_FAILED = "login_failed"
    NO_TOKEN = "no_token"
