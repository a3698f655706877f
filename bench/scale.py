"""Scale benchmark: `monitor run` as an operator runs it, against real SNMP agents.

The daemon is a subprocess (its own settings from the environment, SQLite store)
watching N switches, each with the switch profile's SNMP check (system group and
IF-MIB interfaces, every 60 s).  90 % of them answer: net-snmp's snmpd, reporting
`--ports` interfaces (veth links); 10 % are black-holed: a UDP socket bound on
their port that never reads (the packets vanish, no ICMP -- a dead switch behind a
WAN link).  Every switch has an address of its own (127.x.y.z) so that the
daemon keeps per-target state as it would for a real fleet.

Everything runs in a network namespace of its own (`unshare --net`, root): there,
snmpd may listen on every address of 127.0.0.0/8 at once and no packet can leave.

Prints, over `--minutes` (default 10): the daemon's RSS every minute, the scheduler
lag p50/p99 (the daemon's own `/metrics`), one scrape's wall time, its CPU (the
daemon's CPU during the scrape less its rate between scrapes: the checks' share) and
its size, and checks per CPU-second (check runs over the daemon's CPU).
`--stalls` and `--trace` show where the event loop stood still and where the memory
is (bench/stalls.py, bench/traced.py).

Run:  .venv/bin/python bench/scale.py [--targets 20000] [--minutes 10] [--ports 24]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SNMP_PORT = 161
HOLE_PORT = 1161
TICK = os.sysconf("SC_CLK_TCK")

INVENTORY_HEAD = """\
version: 1
defaults:
  kinds:
    switch:
      credentials: ro
      checks:
        - {kind: snmp, interval: 60s, timeout: 10s, read: [system, interfaces]}
credentials:
  ro: {community: env:SV_BENCH_COMMUNITY}
regions: [jinan]
sites:
"""


def address(i: int) -> str:
    """The i-th switch's address, in 127.1.0.0/16 upwards (never 127.0.0.1)."""
    n = (1 << 16) + i
    return f"127.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def write_inventory(path: Path, targets: int, per_site: int = 50) -> None:
    lines = [INVENTORY_HEAD]
    sites = (targets + per_site - 1) // per_site
    for s in range(sites):
        lines.append(f"  - {{id: s{s:04d}, name_zh: 站点{s}, name_en: Site {s}, "
                     f"region: jinan, role: monitoring_room}}\n")
    lines.append("devices:\n")
    for i in range(targets):
        port = HOLE_PORT if i % 10 == 9 else SNMP_PORT
        lines.append(f"  - {{id: sw{i:05d}, name: Switch {i}, kind: switch, "
                     f"site: s{i // per_site:04d}, address: {address(i)}, "
                     f"checks: [{{kind: snmp, port: {port}}}]}}\n")
    path.write_text("".join(lines), encoding="utf-8")


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def largest_mappings(pid: int, n: int = 4) -> str:
    """The mappings holding most of the RSS (where memory goes: heap, anonymous, files)."""
    rows, current = [], ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            current = head[5] if len(head) > 5 else "[anonymous]"
        elif line.startswith("Rss:"):
            rows.append((int(head[1]), current))
    total: dict[str, int] = {}
    for kb, name in rows:
        key = name if name.startswith("[") else Path(name).name
        total[key] = total.get(key, 0) + kb
    top = sorted(total.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{name} {kb / 1024:.0f} MB" for name, kb in top)


def scrape(address: str) -> bytes:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=60) as resp:
        return bytes(resp.read())


def metric(text: str, name: str) -> float | None:
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def runs_total(text: str) -> float:
    return metric(text, "sv_check_runs_total") or 0.0


def devices_up(text: str) -> tuple[int, int]:
    """(devices up, devices not up) by `sv_device_up`."""
    values = re.findall(r"^sv_device_up{[^}]*} (\S+)$", text, re.M)
    up = sum(1 for v in values if float(v) == 1)
    return up, len(values) - up


def start_snmpd(folder: Path) -> subprocess.Popen[bytes]:
    conf = folder / "snmpd.conf"
    conf.write_text(f"agentAddress udp:{SNMP_PORT}\nrocommunity public\n"
                    "dontLogTCPWrappersConnects yes\n"
                    "sysLocation bench\nsysContact bench\n")
    proc = subprocess.Popen(["snmpd", "-f", "-Lf", str(folder / "snmpd.log"), "-C", "-c",
                             str(conf), "-p", str(folder / "snmpd.pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    if proc.poll() is not None:
        sys.exit(f"snmpd exited: {(folder / 'snmpd.log').read_text()}")
    return proc


def inner(args: argparse.Namespace) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for p in range(0, args.ports, 2):  # veth pairs (this kernel has no dummy links)
        subprocess.run(["ip", "link", "add", f"port{p}", "type", "veth", "peer", "name",
                        f"port{p + 1}"], check=True)
        for name in (f"port{p}", f"port{p + 1}"):
            subprocess.run(["ip", "link", "set", name, "up"], check=True)
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("0.0.0.0", HOLE_PORT))  # never read: what arrives is dropped, no ICMP
    with tempfile.TemporaryDirectory(prefix="svscale-") as tmp_:
        tmp = Path(tmp_)
        inventory = tmp / "inventory.yaml"
        write_inventory(inventory, args.targets)
        snmpd = start_snmpd(tmp)
        http = "127.0.0.1:9920"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env |= {"MONITOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'monitor.db'}",
                "MONITOR_HTTP_LISTEN": http, "MONITOR_INVENTORY": str(inventory),
                "MONITOR_MAX_IN_FLIGHT": str(args.in_flight),
                "MONITOR_ALLOW_EMPTY_INVENTORY": "false", "SV_BENCH_COMMUNITY": "public"}
        started = time.monotonic()
        with open(tmp / "daemon.log", "wb") as log:
            command = [sys.executable, "-m", "monitor", "run"]
            if args.trace or args.stalls:
                env["SV_TRACE_OUT"] = str(tmp / "trace.txt")
                wrapper = "traced.py" if args.trace else "stalls.py"
                command[1:3] = [str(REPO / "bench" / wrapper)]
            daemon = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                      stderr=log)
        try:
            report(args, daemon, snmpd, http, started, tmp)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
            snmpd.terminate()
            snmpd.wait(10)
            hole.close()


def report(args: argparse.Namespace, daemon: subprocess.Popen[bytes],
           snmpd: subprocess.Popen[bytes], http: str, started: float, tmp: Path) -> None:
    deadline = time.monotonic() + 300
    while True:
        if daemon.poll() is not None:
            sys.exit(f"the daemon exited {daemon.returncode}:\n"
                     f"{(tmp / 'daemon.log').read_text()[-3000:]}")
        try:
            scrape(http)
            break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("the daemon did not serve /metrics within 300 s")
            time.sleep(1)
    print(f"{args.targets} switches ({args.targets // 10} black-holed), "
          f"{args.ports + 1} interfaces each; daemon up after "
          f"{time.monotonic() - started:.1f} s, RSS {proc_rss_mb(daemon.pid):.0f} MB",
          flush=True)
    cpu0, runs0 = proc_cpu_s(daemon.pid), runs_total(scrape(http).decode())
    snmpd_cpu0, t0 = proc_cpu_s(snmpd.pid), time.monotonic()
    rss: list[float] = []
    scrapes: list[tuple[float, float, int]] = []
    lags: list[tuple[float, float]] = []
    lag_at: list[float] = []  # seconds after the start of each window in `lags`
    gap: tuple[float, float] | None = None
    rate = 0.0
    for minute in range(1, args.minutes + 1):
        end = t0 + 60 * minute
        while time.monotonic() < end:  # a scrape every --scrape-every seconds
            c, w = proc_cpu_s(daemon.pid), time.monotonic()
            if gap is not None:  # the daemon's CPU rate between scrapes: its other work
                rate = (c - gap[0]) / max(w - gap[1], 1e-9)
            body = scrape(http)
            wall = time.monotonic() - w
            # the scrape's own CPU: the daemon's during it, less its other work meanwhile
            scrapes.append((wall, proc_cpu_s(daemon.pid) - c - rate * wall, len(body)))
            gap = (proc_cpu_s(daemon.pid), time.monotonic())
            text = body.decode()
            p50 = metric(text, "sv_scheduler_lag_p50_seconds")
            p99 = metric(text, "sv_scheduler_lag_p99_seconds")
            if p50 is not None and p99 is not None:
                lags.append((p50, p99))
                lag_at.append(time.monotonic() - t0)
            time.sleep(max(0.0, min(args.scrape_every, end - time.monotonic())))
        rss.append(proc_rss_mb(daemon.pid))
        print(f"  minute {minute:2d}: RSS {rss[-1]:.0f} MB, lag p50/p99 "
              f"{lags[-1][0] * 1000:.0f}/{lags[-1][1] * 1000:.0f} ms" if lags else "",
              flush=True)
        if args.mappings:
            print(f"    {largest_mappings(daemon.pid)}", flush=True)
        if args.trace and minute == 2:  # the baseline that the end's growth is told against
            daemon.send_signal(signal.SIGUSR2)
    elapsed = time.monotonic() - t0
    cpu, runs = proc_cpu_s(daemon.pid) - cpu0, runs_total(scrape(http).decode()) - runs0
    text = scrape(http).decode()
    up, not_up = devices_up(text)
    wall = sorted(s[0] for s in scrapes)
    print(f"RSS: start {rss[0]:.0f} MB, end {rss[-1]:.0f} MB, max {max(rss):.0f} MB")
    print(f"lag p50 {max(p for p, _ in lags) * 1000:.0f} ms, p99 (max of the daemon's "
          f"windows) {max(p for _, p in lags) * 1000:.0f} ms; the worst windows (s after "
          f"the start: ms): " + ", ".join(
              f"{at:.0f}: {p * 1000:.0f}" for at, (_, p) in
              sorted(zip(lag_at, lags, strict=True), key=lambda w: -w[1][1])[:5]))
    print(f"scrape: {len(scrapes)} of {scrapes[-1][2] / 1e6:.1f} MB, median "
          f"{wall[len(wall) // 2]:.2f} s wall, its own CPU median "
          f"{sorted(s[1] for s in scrapes)[len(scrapes) // 2]:.2f} s")
    print(f"checks: {runs:.0f} runs in {elapsed:.0f} s ({runs / elapsed:.0f}/s), daemon CPU "
          f"{cpu:.0f} s ({cpu / elapsed * 100:.0f} % of a core): {runs / cpu:.0f} checks "
          f"per CPU-second -> {runs / cpu * 60:.0f} targets per core at a 60 s interval")
    print(f"snmpd CPU {proc_cpu_s(snmpd.pid) - snmpd_cpu0:.0f} s; devices up {up}, "
          f"not up {not_up}")
    if args.trace or args.stalls:
        trace = tmp / "trace.txt"
        trace.unlink(missing_ok=True)
        daemon.send_signal(signal.SIGUSR2)
        for _ in range(120):
            time.sleep(1)
            if trace.exists() and trace.stat().st_size:
                time.sleep(1)
                print(trace.read_text())
                break


def in_own_network() -> None:
    """Run this script again (with ``--inner``) in a network namespace of its own."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("snmpd") is None:
        sys.exit("needs root, unshare (util-linux) and snmpd (make bench installs it)")
    os.execvp("unshare", ["unshare", "--net", "--", sys.executable, *sys.argv, "--inner"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=20_000)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--ports", type=int, default=24, help="interfaces per switch, + lo")
    parser.add_argument("--in-flight", type=int, default=500)
    parser.add_argument("--mappings", action="store_true",
                        help="print the largest memory mappings every minute")
    parser.add_argument("--scrape-every", type=float, default=5.0,
                        help="seconds between scrapes (lag p99 < 100 ms is asked at 5 s)")
    parser.add_argument("--trace", action="store_true",
                        help="run the daemon under tracemalloc and print where its memory "
                             "is, at the end (bench/traced.py)")
    parser.add_argument("--stalls", action="store_true",
                        help="run the daemon with a stall finder and print where the event "
                             "loop stood still, at the end (bench/stalls.py)")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args)
        return
    in_own_network()


if __name__ == "__main__":
    main()
