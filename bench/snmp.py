"""SNMP benchmark: this daemon's SNMP client beside Prometheus' snmp_exporter, one run.

Starts net-snmp's snmpd and Debian's prometheus-snmp-exporter on loopback, then
measures, for two workloads,
  * a GET of 10 OIDs (system group + ifNumber + sysORDescr.1),
  * a walk of IF-MIB's ifTable (every column, every row),
how many polls per second each side completes with 100 in flight and how much CPU
it burns, and prints polls per CPU-second and the ratio.  Then a fleet: `--agents`
(100) snmpd instances, each its own SNMPv3 engine (engine ID, boots, time) with the
same authPriv user (SHA/AES), polled round-robin with the 10-OID GET, by v2c and by
v3, on both sides -- the v3 row is what a v3 fleet costs (discovery, key
localisation per engine, encryption).  The exporter is driven
by `wrk` over HTTP (its CPU is read from /proc, wrk's own is not counted); our
client runs in this process (its CPU from getrusage).  pysnmp 7's hlapi is
measured the same way for reference.

Run:  .venv/bin/python bench/snmp.py [--seconds 10]   (needs: snmpd, wrk,
prometheus-snmp-exporter -- `make bench` installs them)
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.snmp import ber
from probes.snmp.client import Agent, FastClient
from probes.snmp.fast_v3 import FastV3Client
from probes.snmp.transport import UdpTransport
from probes.snmp.usm import Usm

GET_OIDS = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.4.0",
            "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.1.7.0", "1.3.6.1.2.1.1.8.0",
            "1.3.6.1.2.1.2.1.0", "1.3.6.1.2.1.1.9.1.3.1"]
IFTABLE = "1.3.6.1.2.1.2.2.1"
IF_COLUMNS = [f"{IFTABLE}.{i}" for i in range(1, 23)]
IN_FLIGHT = 100
V3_USER = ("bench", "SHA", "bench-auth-key", "AES", "bench-priv-key")


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def exporter_config() -> str:
    """snmp_exporter 0.21's modules (at the top level, auth inside each)."""
    texts = (0, 3, 4, 5, 9)  # the DisplayString OIDs of GET_OIDS
    get10 = {"version": 2, "auth": {"community": "public"}, "retries": 0, "timeout": "5s",
             "get": GET_OIDS,
             "metrics": [{"name": f"get_{i}", "oid": oid,
                          "type": "DisplayString" if i in texts else "gauge"}
                         for i, oid in enumerate(GET_OIDS)]}
    user, auth, akey, priv, pkey = V3_USER
    v3_auth = {"username": user, "security_level": "authPriv", "auth_protocol": auth,
               "password": akey, "priv_protocol": priv, "priv_password": pkey}
    types = {2: "DisplayString", 6: "PhysAddress48", 22: "OctetString"}  # else numbers
    iftable = {"version": 2, "auth": {"community": "public"}, "retries": 0,
               "timeout": "5s", "max_repetitions": 25, "walk": [IFTABLE],
               "metrics": [{"name": f"if_col_{i}", "oid": f"{IFTABLE}.{i}",
                            "type": types.get(i, "gauge"),
                            "indexes": [{"labelname": "ifIndex", "type": "gauge"}]}
                           for i in range(1, 23)]}
    get10v3 = copy.deepcopy(get10) | {"version": 3, "auth": v3_auth}  # (no YAML anchors)
    return str(yaml.safe_dump({"get10": get10, "get10v3": get10v3, "iftable": iftable},
                              sort_keys=False))


def wait_udp(port: int) -> None:
    msg = ber.encode_request(ber.V2C, b"public", ber.GET, 1,
                             ber.encode_varbinds([ber.encode_oid("1.3.6.1.2.1.1.3.0")]))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        for _ in range(50):
            s.sendto(msg, ("127.0.0.1", port))
            try:
                s.recv(65535)
                return
            except TimeoutError:
                pass
    raise SystemExit("snmpd did not answer")


def wait_tcp(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("snmp_exporter did not start")


async def ours(kind: str, port: int, seconds: float) -> tuple[float, float]:
    client = FastClient(UdpTransport())
    agent = Agent("127.0.0.1", port, ber.V2C, b"public", timeout_s=5, retries=0)
    oids = [ber.encode_oid(o) for o in GET_OIDS]
    cols = [ber.encode_oid(o) for o in IF_COLUMNS]
    loop = asyncio.get_running_loop()
    done = 0
    end = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < end:
            if kind == "get":
                got = await client.get(agent, oids, loop.time() + 5)
                assert len(got) == len(oids)
            else:
                rows = await client.walk_columns(agent, cols, loop.time() + 5)
                assert rows[cols[0]]
            done += 1

    cpu0, t0 = cpu_self(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    elapsed, cpu = time.monotonic() - t0, cpu_self() - cpu0
    client.transport.close()
    return done / elapsed, cpu / elapsed


async def pysnmp_hlapi(kind: str, port: int, seconds: float) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pysnmp.hlapi.v3arch import asyncio as hlapi
    engine = hlapi.SnmpEngine()
    target = await hlapi.UdpTransportTarget.create(("127.0.0.1", port), timeout=5, retries=0)
    community = hlapi.CommunityData("public")
    done = 0
    end = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < end:
            if kind == "get":
                err, status, _, _ = await hlapi.get_cmd(
                    engine, community, target, hlapi.ContextData(),
                    *[hlapi.ObjectType(hlapi.ObjectIdentity(o)) for o in GET_OIDS],
                    lookupMib=False)
            else:
                async for err, status, _, _ in hlapi.bulk_walk_cmd(
                        engine, community, target, hlapi.ContextData(), 0, 25,
                        hlapi.ObjectType(hlapi.ObjectIdentity(IFTABLE)),
                        lookupMib=False, lexicographicMode=False):
                    assert not err and not status
            assert not err and not status
            done += 1

    cpu0, t0 = cpu_self(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    elapsed, cpu = time.monotonic() - t0, cpu_self() - cpu0
    engine.close_dispatcher()
    return done / elapsed, cpu / elapsed


def start_fleet(tmp: Path, count: int) -> list[tuple[int, subprocess.Popen[bytes]]]:
    """`count` snmpd instances, each an SNMPv3 engine of its own, one user."""
    fleet = []
    user, auth, akey, priv, pkey = V3_USER
    for i in range(count):
        folder = tmp / f"agent{i:03d}"
        folder.mkdir()
        port = free_port(socket.SOCK_DGRAM)
        (folder / "snmpd.conf").write_text(
            f"rocommunity public 127.0.0.1\nengineID sv-bench-{i:03d}\n"
            f'createUser {user} {auth} "{akey}" {priv} "{pkey}"\nrouser {user} priv\n')
        fleet.append((port, subprocess.Popen(
            ["snmpd", "-f", "-Lf", str(folder / "log"), "-C", "-c",
             str(folder / "snmpd.conf"), "-I", "-smux", f"udp:127.0.0.1:{port}"],
            env=os.environ | {"SNMP_PERSISTENT_DIR": str(folder)})))
    for port, _ in fleet:
        wait_udp(port)
    return fleet


async def ours_fleet(version: str, ports: list[int], seconds: float) -> tuple[float, float]:
    """The 10-OID GET round-robin over the fleet, as the daemon's probes ask it."""
    oids = [ber.encode_oid(o) for o in GET_OIDS]
    if version == "3":
        client = FastV3Client(UdpTransport())
        usm = Usm(*V3_USER)
        agents = [Agent("127.0.0.1", p, 3, b"", timeout_s=5, retries=0, usm=usm)
                  for p in ports]
    else:
        client = FastClient(UdpTransport())
        agents = [Agent("127.0.0.1", p, ber.V2C, b"public", timeout_s=5, retries=0)
                  for p in ports]
    loop = asyncio.get_running_loop()
    for agent in agents:  # discovery and key localisation once, as a daemon would
        await client.get(agent, oids, loop.time() + 5)
    done = 0
    end = time.monotonic() + seconds

    async def worker(start: int) -> None:
        nonlocal done
        i = start
        while time.monotonic() < end:
            got = await client.get(agents[i % len(agents)], oids, loop.time() + 5)
            assert len(got) == len(oids)
            done += 1
            i += IN_FLIGHT

    cpu0, t0 = cpu_self(), time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(IN_FLIGHT)))
    elapsed, cpu = time.monotonic() - t0, cpu_self() - cpu0
    client.transport.close()
    return done / elapsed, cpu / elapsed


def exporter_fleet(module: str, http_port: int, ports: list[int], pid: int, tmp: Path,
                   seconds: float) -> tuple[float, float]:
    """wrk asking the exporter for each agent in turn (a Lua script picks the target)."""
    script = tmp / f"{module}.lua"
    script.write_text(
        "local ports = {" + ",".join(map(str, ports)) + "}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        "  local p = ports[(i % #ports) + 1]\n"
        f'  return wrk.format("GET", "/snmp?target=127.0.0.1:" .. p .. "&module={module}")\n'
        "end\n")
    url = f"http://127.0.0.1:{http_port}/"
    for port in ports:  # the exporter's first contact with each agent, as ours
        subprocess.run(["curl", "-sf", "-o", "/dev/null",
                        f"{url}snmp?target=127.0.0.1:{port}&module={module}"], check=True)
    cpu0, t0 = cpu_of(pid), time.monotonic()
    out = subprocess.run(["wrk", "-t2", f"-c{IN_FLIGHT}", f"-d{seconds:g}s", "-s", str(script),
                          url], capture_output=True, text=True, check=True).stdout
    elapsed, cpu = time.monotonic() - t0, cpu_of(pid) - cpu0
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in out:
        raise SystemExit(f"snmp_exporter answered errors:\n{out}")
    return requests / elapsed, cpu / elapsed


def exporter(kind: str, http_port: int, agent_port: int, pid: int,
             seconds: float) -> tuple[float, float]:
    module = "get10" if kind == "get" else "iftable"
    url = f"http://127.0.0.1:{http_port}/snmp?target=127.0.0.1:{agent_port}&module={module}"
    cpu0, t0 = cpu_of(pid), time.monotonic()
    out = subprocess.run(["wrk", "-t2", f"-c{IN_FLIGHT}", f"-d{seconds:g}s", url],
                         capture_output=True, text=True, check=True).stdout
    elapsed, cpu = time.monotonic() - t0, cpu_of(pid) - cpu0
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in out:
        raise SystemExit(f"snmp_exporter answered errors:\n{out}")
    return requests / elapsed, cpu / elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--no-pysnmp", action="store_true", help="skip the pysnmp reference")
    p.add_argument("--agents", type=int, default=100, help="agents of the fleet (0: none)")
    args = p.parse_args()
    for tool in ("snmpd", "wrk", "prometheus-snmp-exporter", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: `make bench` installs it")
    tmp = Path(tempfile.mkdtemp(prefix="bench-snmp-"))
    agent_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    (tmp / "snmpd.conf").write_text("rocommunity public 127.0.0.1\n")
    (tmp / "snmp.yml").write_text(exporter_config())
    snmpd = subprocess.Popen(
        ["snmpd", "-f", "-Lf", str(tmp / "snmpd.log"), "-C", "-c", str(tmp / "snmpd.conf"),
         "-I", "-smux", f"udp:127.0.0.1:{agent_port}"],
        env=os.environ | {"SNMP_PERSISTENT_DIR": str(tmp)})
    exp = subprocess.Popen(
        ["prometheus-snmp-exporter", f"--config.file={tmp / 'snmp.yml'}",
         f"--web.listen-address=127.0.0.1:{http_port}", "--log.level=error"])
    try:
        wait_udp(agent_port)
        wait_tcp(http_port)
        rows = len(asyncio.run(_count_rows(agent_port)))
        print(f"snmpd on 127.0.0.1:{agent_port} (ifTable: {rows} rows × 22 columns); "
              f"{IN_FLIGHT} polls in flight; {args.seconds:g} s per measurement; "
              f"{os.cpu_count()} CPUs")
        for kind, label in (("get", "GET of 10 OIDs"), ("walk", "ifTable walk")):
            results = {"sv-monitor (fast v1/v2c client)": asyncio.run(
                ours(kind, agent_port, args.seconds))}
            results["snmp_exporter 0.21 (Go, Debian)"] = exporter(
                kind, http_port, agent_port, exp.pid, args.seconds)
            if not args.no_pysnmp:
                results["pysnmp 7 hlapi, lookupMib=False"] = asyncio.run(
                    pysnmp_hlapi(kind, agent_port, args.seconds))
            print(f"\n{label}:")
            for name, (rate, cores) in results.items():
                print(f"  {name:34s} {rate:8.0f} polls/s  {cores:5.2f} cores  "
                      f"{rate / cores:8.0f} polls per CPU-second")
            ours_eff = results["sv-monitor (fast v1/v2c client)"]
            theirs = results["snmp_exporter 0.21 (Go, Debian)"]
            print(f"  ratio sv-monitor / snmp_exporter, polls per CPU-second: "
                  f"{(ours_eff[0] / ours_eff[1]) / (theirs[0] / theirs[1]):.2f}")
        if args.agents:
            fleet_section(tmp, args.agents, http_port, exp.pid, args.seconds)
    finally:
        exp.terminate()
        snmpd.terminate()
        exp.wait()
        snmpd.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def fleet_section(tmp: Path, count: int, http_port: int, pid: int, seconds: float) -> None:
    fleet = start_fleet(tmp, count)
    ports = [port for port, _ in fleet]
    try:
        print(f"\nGET of 10 OIDs, {count} agents (snmpd each, its own v3 engine), "
              "round-robin:")
        results = {
            "sv-monitor v2c (fast client)": asyncio.run(ours_fleet("2c", ports, seconds)),
            "snmp_exporter v2c": exporter_fleet("get10", http_port, ports, pid, tmp,
                                                seconds),
            "sv-monitor v3 authPriv SHA/AES": asyncio.run(ours_fleet("3", ports, seconds)),
            "snmp_exporter v3 authPriv SHA/AES": exporter_fleet("get10v3", http_port, ports,
                                                                pid, tmp, seconds)}
        for name, (rate, cores) in results.items():
            print(f"  {name:34s} {rate:8.0f} polls/s  {cores:5.2f} cores  "
                  f"{rate / cores:8.0f} polls per CPU-second")
        for v, a, b in (("v2c", "sv-monitor v2c (fast client)", "snmp_exporter v2c"),
                        ("v3", "sv-monitor v3 authPriv SHA/AES",
                         "snmp_exporter v3 authPriv SHA/AES")):
            (ra, ca), (rb, cb) = results[a], results[b]
            print(f"  ratio sv-monitor / snmp_exporter, {v}, polls per CPU-second: "
                  f"{(ra / ca) / (rb / cb):.2f}")
    finally:
        for _, proc in fleet:
            proc.terminate()
        for _, proc in fleet:
            proc.wait()


async def _count_rows(port: int) -> list[object]:
    client = FastClient(UdpTransport())
    agent = Agent("127.0.0.1", port, ber.V2C, b"public")
    rows = await client.walk_columns(agent, [ber.encode_oid(IF_COLUMNS[0])],
                                     asyncio.get_running_loop().time() + 5)
    client.transport.close()
    return next(iter(rows.values()))


if __name__ == "__main__":
    main()
