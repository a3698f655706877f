"""The probe kinds this daemon knows, by the name used in ``inventory.yaml``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from probes import icmp, tcp
from probes.base import ProbeKind

PROBES: Mapping[str, ProbeKind[Any]] = {
    probe.name: probe
    for probe in (
        icmp.PROBE,
        tcp.PROBE,
    )
}
