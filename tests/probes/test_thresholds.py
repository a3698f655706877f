"""Thresholds turn values into warning/down with a reason code."""

from __future__ import annotations

import re

import pytest

from monitor.vocab import Status
from probes.result import ProbeResult
from probes.thresholds import Threshold, judge

CASES = [
    # (value, threshold, expected status, expected reason)
    (0.1, Threshold(warning=0.2, down=0.5), Status.OK, "ok"),
    (0.2, Threshold(warning=0.2, down=0.5), Status.WARNING, "loss_ratio_high"),
    (0.7, Threshold(warning=0.2, down=0.5), Status.DOWN, "loss_ratio_high"),
    (0.7, Threshold(down=0.5, reason="link_lossy"), Status.DOWN, "link_lossy"),
    (0.05, Threshold(warning=0.1, down=0.02, below=True), Status.WARNING, "loss_ratio_low"),
    (0.01, Threshold(warning=0.1, down=0.02, below=True), Status.DOWN, "loss_ratio_low"),
]


@pytest.mark.parametrize(("value", "limit", "status", "reason"), CASES)
def test_judge(value: float, limit: Threshold, status: Status, reason: str) -> None:
    result = judge(ProbeResult.ok("fine", values={"loss_ratio": value}), {"loss_ratio": limit})
    assert (result.status, result.reason) == (status, reason)
    if status is not Status.OK:
        assert result.detail.startswith(f"loss_ratio {value:g}")
        assert result.detail.endswith("; fine")


def test_worst_value_wins_and_failures_stay() -> None:
    limits = {"a": Threshold(warning=1), "b": Threshold(down=1)}
    got = judge(ProbeResult.ok(values={"a": 2, "b": 2}), limits)
    assert (got.status, got.reason) == (Status.DOWN, "b_high")
    failed = ProbeResult.down("refused", "no", values={"a": 2})
    assert judge(failed, limits) is failed
    assert judge(ProbeResult.ok(values={"a": "text"}), limits).status is Status.OK


def test_threshold_order_is_checked() -> None:
    with pytest.raises(ValueError, match=re.escape("'down' (0.2) is below 'warning' (0.5)")):
        Threshold(warning=0.5, down=0.2)


def test_a_major_event_tightens_thresholds() -> None:
    loss = Threshold(warning=0.2, down=0.5).tightened(0.8)
    assert (loss.warning, loss.down) == pytest.approx((0.16, 0.4))
    free = Threshold(warning=0.1, down=0.05, below=True).tightened(0.8)
    assert (free.warning, free.down) == pytest.approx((0.125, 0.0625))
    assert Threshold(warning=1).tightened(1.0) == Threshold(warning=1)
    assert judge(ProbeResult.ok(values={"loss_ratio": 0.17}),
                 {"loss_ratio": loss}).status is Status.WARNING
