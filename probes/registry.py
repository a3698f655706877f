"""The probe kinds this daemon knows, by the name used in ``inventory.yaml``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from probes import auth, backup, http, icmp, onvif, path, tcp
from probes.base import ProbeKind
from probes.snmp import probe as snmp
from probes.snmp import topology as snmp_topology
from probes.video import probe as video
from probes.video import rtsp

PROBES: Mapping[str, ProbeKind[Any]] = {
    probe.name: probe
    for probe in (
        auth.PROBE,
        backup.PROBE,
        http.PROBE,
        icmp.PROBE,
        onvif.PROBE,
        onvif.PTZ_MOVE,
        path.PROBE,
        rtsp.PROBE,
        snmp.PROBE,
        snmp_topology.PROBE,
        tcp.PROBE,
        video.PROBE,
    )
}
