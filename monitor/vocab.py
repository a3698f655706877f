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
