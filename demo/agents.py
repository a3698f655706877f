"""Real SNMP agents for the demo (and the tests): snmpsim and net-snmp's snmpd.

A simulated switch or DVR is snmpsim serving the bundled recording of a Linux
host, with three OIDs made writable (snmpsim's ``writecache`` variation) so a
reboot, an uplink going down or a counter wrapping can be caused on request by
an SNMP SET, and the uplink's octet counters made to move (``numeric``).
writecache keeps one value per OID for the whole process, whatever the data
file: devices that must change independently need an snmpsim each.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import snmpsim

SNMPSIM = Path(snmpsim.__file__).resolve().parent
RECORDED = SNMPSIM / "data" / "recorded"

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
HR_UPTIME = "1.3.6.1.2.1.25.1.1.0"  # the host's: a reboot resets it, an agent restart not
UPLINK_OPER = "1.3.6.1.2.1.2.2.1.8.2"  # ifOperStatus of eth0, the uplink
UPLINK_IN_ERRORS = "1.3.6.1.2.1.2.2.1.14.2"
WRITABLE = {SYS_UPTIME: "67", HR_UPTIME: "67", UPLINK_OPER: "2", UPLINK_IN_ERRORS: "65"}
# eth0's 64-bit octet counters grow (about 20 and 4 Mbit/s) so rates move.
MOVING = {"1.3.6.1.2.1.31.1.1.1.6.2": "rate=2500000,initial=1000000000",
          "1.3.6.1.2.1.31.1.1.1.10.2": "rate=500000,initial=1000000000"}


def simulated_device(recording: str = "linux-full-walk.snmprec", moving: bool = False) -> str:
    """A .snmprec text: the recording with the writable (and moving) OIDs varied."""
    lines = []
    for line in (RECORDED / recording).read_text().splitlines():
        oid, _, rest = line.partition("|")
        tag, _, value = rest.partition("|")
        if oid in WRITABLE:
            line = f"{oid}|{tag}:writecache|value={value}"
        elif moving and oid in MOVING:
            line = f"{oid}|{tag}:numeric|{MOVING[oid]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def start_snmpsim(folder: Path, endpoints: list[str],
                  v3: list[str] | None = None) -> subprocess.Popen[bytes]:
    """snmpsim serving `folder`/data on the given ``ADDRESS:PORT`` endpoints; `v3`: the
    engine's SNMPv3 options (``--v3-user=…``), whose data files are picked by context
    name (``vlan-5.snmprec`` for context "vlan-5")."""
    exe = Path(sys.executable).parent / "snmpsim-command-responder"
    engine = ["--v3-engine-id=auto", *v3] if v3 else []
    return subprocess.Popen(
        [str(exe), f"--cache-dir={folder / 'cache'}",
         # Replaces the default search path: the bundled modules must be named.
         f"--variation-modules-dir={SNMPSIM / 'variation'}",
         f"--logging-method=file:{folder / 'snmpsim.log'}",
         # an engine's options, then its data and endpoints (snmpsim's order)
         *engine, f"--data-dir={folder / 'data'}",
         *[f"--agent-udpv4-endpoint={e}" for e in endpoints]],
        env=os.environ | {"SNMPSIM_ALLOW_ROOT": "true"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_snmpd(folder: Path, endpoint: str, community: str) -> subprocess.Popen[bytes]:
    """net-snmp's snmpd in the foreground on `endpoint`, with a config of our own."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "snmpd.conf").write_text(f"rocommunity {community} 127.0.0.0/8\n"
                                       "sysLocation demo\nsysContact demo\n")
    # -I -smux: no SMUX listener (it would open TCP 199 on every address).
    return subprocess.Popen(
        ["snmpd", "-f", "-Lf", str(folder / "snmpd.log"), "-C", "-c",
         str(folder / "snmpd.conf"), "-I", "-smux", f"udp:{endpoint}"],
        env=os.environ | {"SNMP_PERSISTENT_DIR": str(folder / "persist")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def snmp_set(address: str, port: int, community: str, oid: str, value: int) -> None:
    """SET one of a simulated device's writable OIDs (an INTEGER unless `WRITABLE` says)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pysnmp.hlapi.v3arch import asyncio as hlapi
    types = {"67": hlapi.TimeTicks, "2": hlapi.Integer32, "65": hlapi.Counter32}
    engine = hlapi.SnmpEngine()
    try:
        indication, status, _, _ = await hlapi.set_cmd(
            engine, hlapi.CommunityData(community),
            await hlapi.UdpTransportTarget.create((address, port), timeout=2),
            hlapi.ContextData(),
            hlapi.ObjectType(hlapi.ObjectIdentity(oid), types[WRITABLE.get(oid, "2")](value)),
            lookupMib=False)
    finally:
        engine.close_dispatcher()
    if indication or status:
        raise RuntimeError(f"SET {oid} on {address}:{port} failed: {indication or status}")
