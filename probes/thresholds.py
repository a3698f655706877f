"""Judging a probe's values against thresholds from configuration.

A check's ``thresholds`` map a value name to limits (a name without a label,
``if_in_errors_rate``, covers every labelled series ``if_in_errors_rate[Gi0/1]``,
unless that series has a threshold of its own); a value past ``warning``
makes an ``ok`` result a ``warning``, past ``down`` makes it ``down``.  The
reason code names the value (``loss_ratio_high``, ``disk_free_low``) unless the
threshold gives one.  A result that already failed is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.vocab import Status
from probes.result import ProbeResult


class Threshold(BaseModel):
    """Limits for one value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warning: float | None = None
    down: float | None = None
    below: bool = Field(default=False, description="bad when the value falls below the limits")
    reason: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.warning is not None and self.down is not None:
            bad = self.down > self.warning if self.below else self.down < self.warning
            if bad:
                side = "above" if self.below else "below"
                raise ValueError(f"'down' ({self.down:g}) is {side} 'warning' ({self.warning:g})")
        return self

    def tightened(self, factor: float) -> Threshold:
        """These limits made stricter by `factor` (≤ 1): a major event tolerates less."""
        if factor >= 1:
            return self
        scale = (1 / factor) if self.below else factor
        return self.model_copy(update={
            "warning": None if self.warning is None else self.warning * scale,
            "down": None if self.down is None else self.down * scale})

    def status_for(self, value: float) -> Status:
        """The status this value earns."""
        def past(limit: float | None) -> bool:
            return limit is not None and (value <= limit if self.below else value >= limit)
        if past(self.down):
            return Status.DOWN
        if past(self.warning):
            return Status.WARNING
        return Status.OK


def judge(result: ProbeResult, thresholds: Mapping[str, Threshold]) -> ProbeResult:
    """`result` with its status raised by any value past its threshold."""
    if result.status not in (Status.OK, Status.WARNING) or not thresholds:
        return result
    worst: tuple[int, str, str] | None = None
    rank = {Status.WARNING: 1, Status.DOWN: 2}
    for name, value in result.values.items():
        limit = thresholds.get(name) or thresholds.get(name.partition("[")[0])
        if limit is None or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        status = limit.status_for(float(value))
        if status is Status.OK:
            continue
        bound = limit.down if status is Status.DOWN else limit.warning
        sign = "≤" if limit.below else "≥"
        base = name.partition("[")[0]
        reason = limit.reason or f"{base}_{'low' if limit.below else 'high'}"
        detail = f"{name} {value:g} {sign} {bound:g} ({status.value})"
        if worst is None or rank[status] > worst[0]:
            worst = (rank[status], reason, detail)
    if worst is None:
        return result
    status = Status.DOWN if worst[0] == 2 else Status.WARNING
    if result.status is Status.WARNING and status is Status.WARNING:
        return result  # the probe's own warning explains itself
    return replace(result, status=status, reason=worst[1], detail=f"{worst[2]}; {result.detail}")
