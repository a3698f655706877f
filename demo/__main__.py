"""``python -m demo``: start the simulated site and the daemon against it.

    python -m demo                     run site + daemon until Ctrl-C
    python -m demo down DEVICE         close a device's service ports (TCP)
    python -m demo up DEVICE           open them again
    python -m demo reboot DEVICE       a simulated switch/DVR reboots (sysUpTime drops)
    python -m demo uplink-down DEVICE  a simulated switch/DVR loses its uplink (eth0)
    python -m demo uplink-up DEVICE    and gets it back
    python -m demo prometheus          Prometheus (Debian's) scraping the demo, rules loaded
    python -m demo cluster             the site watched by three nodes (demo/cluster.py)
    python -m demo kill NODE           kill -9 one of them
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from email.header import decode_header, make_header
from pathlib import Path

from aiosmtpd.controller import Controller

from demo.agents import (
    HR_UPTIME,
    SYS_UPTIME,
    UPLINK_OPER,
    simulated_device,
    snmp_set,
    start_snmpd,
    start_snmpsim,
)
from demo.peers.viewing import USERS, PasswordServer, Proxy
from demo.site import Site
from monitor.inventory import load_inventory

HERE = Path(__file__).resolve().parent
VAR = Path(os.environ.get("SV_DEMO_VAR") or HERE / "var")  # (tests run it elsewhere)
CONTROL = VAR / "control"
SECRETS = VAR / "secrets"
# demo/inventory.yaml names its secrets relative to itself (var/secrets/…); run with its
# state elsewhere, the demo runs a copy that names them there
INVENTORY = HERE / "inventory.yaml" if VAR == HERE / "var" else VAR / "inventory.yaml"
SETTINGS = VAR / "monitor.toml"
SNMP_PORT = 1161
HTTP_PORT = 9108
MAIL_PORT = 2525  # the mail catcher: alerts land in demo/var/mail/
RTSP_ADDRESS = "127.0.1.250"  # GStreamer's RTSP server: a channel per camera
ONVIF = ("onvif-cam", "127.0.1.41", 8080)  # jn-cam01 answers ONVIF
VIEWING = {"jn-auth": ("127.0.1.11", 8080), "jn-proxy": ("127.0.1.10", 10554)}
# The DVRs answer ONVIF too (search service): address, seconds since the newest recording.
ONVIF_DVRS = {"jn-dvr": ("127.0.1.30", 30.0), "qd-dvr": ("127.0.1.102", 7200.0)}
SIMULATED = {"jn-core-sw": "127.0.1.1", "qd-sw": "127.0.1.101", "jn-dvr": "127.0.1.30",
             "qd-dvr": "127.0.1.102"}  # snmpsim, community = device id
PLATFORM = ("jn-platform", "127.0.1.13")  # net-snmp snmpd


def write_secrets(folder: Path) -> None:
    """The community files the demo inventory names (``var/secrets/<device>``)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for device in SIMULATED:
        (folder / device).write_text(device + "\n")  # snmpsim: the community names the file
    (folder / PLATFORM[0]).write_text(secrets.token_hex(8) + "\n")
    (folder / ONVIF[0]).write_text("onvif-pass\n")  # the emulated camera's password
    (folder / "viewer").write_text(USERS["viewer"] + "\n")  # the path check's account
    (folder / "link-key").write_text(secrets.token_hex(16) + "\n")


def prepare() -> None:
    """Settings, community files and snmpsim data, fresh for every demo."""
    VAR.mkdir(parents=True, exist_ok=True)
    if INVENTORY != HERE / "inventory.yaml":
        INVENTORY.write_text((HERE / "inventory.yaml").read_text(encoding="utf-8")
                             .replace("file:var/secrets/", f"file:{SECRETS}/"), encoding="utf-8")
    SETTINGS.write_text(
        "# written by `python -m demo`\n"
        f'inventory = "{INVENTORY}"\n'
        f'database_url = "sqlite+aiosqlite:///{VAR / "monitor.db"}"\n'
        'state_flush_interval = "5s"\n'
        'resolve_after = "30s"  # tickets resolve soon after the fault clears, for the demo\n'
        f'http_listen = "127.0.0.1:{HTTP_PORT}"\n'
        "[alerts]\n"
        f'roster = "{VAR / "roster.yaml"}"\n'
        f'public_url = "http://127.0.0.1:{HTTP_PORT}"\n'
        f'link_secret = "file:{SECRETS / "link-key"}"\n'
        'gather = "2s"\n'
        "[alerts.email]  # the demo's mail catcher\n"
        f'host = "127.0.0.1"\nport = {MAIL_PORT}\nsecurity = "none"\n'
        'sender = "sv-monitor@demo.invalid"\n')
    (VAR / "roster.yaml").write_text(
        "# written by `python -m demo`: one engineer on duty, reached by mail\n"
        "people:\n"
        "  duty: {name: 值班工程师, email: duty@demo.invalid, office_channels: [email],\n"
        "         off_hours_channels: [email]}\n"
        "rota: {people: [duty], since: 2026-01-01}\n")
    write_secrets(SECRETS)
    for old in VAR.glob("monitor.db*"):  # every demo starts from nothing
        old.unlink()
    shutil.rmtree(VAR / "snmpsim", ignore_errors=True)
    for device in SIMULATED:
        # One snmpsim per device: its writecache is keyed by OID alone, so devices
        # sharing a process would reboot together.
        data = VAR / "snmpsim" / device / "data"
        data.mkdir(parents=True)
        (data / f"{device}.snmprec").write_text(simulated_device(moving=True))


DEMO_PASSWORD = "demo-password"  # the demo's users only: never a real one
DEMO_USERS = (("zhang", "duty", None, "张工"), ("wang", "supervisor", None, "王主管"),
              ("qdkf", "customer", "qingdao-ciq", "青岛海关 李科长"),
              ("admin", "admin", None, ""))


async def add_users(database_url: str | None = None) -> None:
    """A service-desk user for each role (the console's login)."""
    from monitor.access.roles import Role
    from monitor.access.users import UserStore
    from monitor.store.store import Store
    store = await Store.open(database_url or f"sqlite+aiosqlite:///{VAR / 'monitor.db'}")
    try:
        users = UserStore(store)
        for name, role, customer, display in DEMO_USERS:
            await users.add(name, Role(role), DEMO_PASSWORD, actor="demo",
                            customer=customer, display_name=display)
    finally:
        await store.close()


class MailCatcher:
    """An SMTP server (aiosmtpd) that keeps every mail and prints its subject."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.count = 0

    async def handle_DATA(self, server: object, session: object,
                          envelope: object) -> str:
        self.count += 1
        content: bytes = envelope.content  # type: ignore[attr-defined]
        (self.folder / f"{self.count:04d}.eml").write_bytes(content)
        mail = email.message_from_bytes(content)
        subject = str(make_header(decode_header(mail["Subject"])))
        link = re.search(r"http://\S+/a/\S+", mail.get_payload(decode=True).decode())
        print(f"[mail to {mail['To']}] {subject}" + (f"\n    {link.group(0)}" if link else ""),
              flush=True)
        return "250 OK"


def start_agents() -> list[subprocess.Popen[bytes]]:
    """The simulated devices that are processes of their own."""
    agents = [start_snmpsim(VAR / "snmpsim" / device, [f"{address}:{SNMP_PORT}"])
              for device, address in SIMULATED.items()]
    agents.append(start_snmpd(VAR / "snmpd", f"{PLATFORM[1]}:{SNMP_PORT}",
                              (SECRETS / PLATFORM[0]).read_text().strip()))
    agents.append(subprocess.Popen(  # python3-gi lives in the system Python
        ["/usr/bin/python3", str(HERE / "peers" / "rtsp_server.py"), "8554"],
        env=os.environ | {"RTSP_ADDRESS": RTSP_ADDRESS},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    agents.append(subprocess.Popen(
        [sys.executable, "-m", "demo.peers.onvif_device", str(ONVIF[2]),
         f"rtsp://{RTSP_ADDRESS}:8554/live", ONVIF[1]],
        cwd=HERE.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for address, lag in ONVIF_DVRS.values():
        agents.append(subprocess.Popen(
            [sys.executable, "-m", "demo.peers.onvif_device", str(ONVIF[2]),
             f"rtsp://{RTSP_ADDRESS}:8554/live", address, "--dvr", "--recording-lag",
             str(lag)], cwd=HERE.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return agents


class Running:
    """The simulated site, its agents and the mail catcher, started (`start`) and
    stopped (`stop`): what the daemon -- or the cluster's nodes -- watch."""

    async def start(self, database_url: str | None = None) -> None:
        prepare()
        await add_users(database_url)
        self.inventory = load_inventory(INVENTORY)
        self.agents = start_agents()
        self.site = Site(self.inventory, CONTROL)
        # the viewing path: jn-auth hands out tokens, jn-proxy relays the RTSP server's
        # channels to those who have one; each up and down with its device's listeners
        # (`make demo-down DEVICE=jn-auth`: no viewer can log in)
        self.auth = PasswordServer(VIEWING["jn-auth"][1], host=VIEWING["jn-auth"][0])
        self.proxy = Proxy(VIEWING["jn-proxy"][1], (RTSP_ADDRESS, 8554),
                           "http://{}:{}/api/verify".format(*VIEWING["jn-auth"]),
                           host=VIEWING["jn-proxy"][0])
        self.site.hooks["jn-auth"] = (self.auth.start, self.auth.stop)
        self.site.hooks["jn-proxy"] = (self.proxy.start, self.proxy.stop)
        self.site_task = asyncio.create_task(self.site.run())
        self.mail = Controller(MailCatcher(VAR / "mail"), hostname="127.0.0.1",
                               port=MAIL_PORT)
        self.mail.start()

        await asyncio.sleep(2)  # snmpsim indexes its data files

    async def stop(self) -> None:
        self.site_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.site_task
        await self.proxy.stop()
        await self.auth.stop()
        self.mail.stop()
        for agent in self.agents:
            agent.terminate()
        for agent in self.agents:
            with contextlib.suppress(subprocess.TimeoutExpired):
                agent.wait(timeout=5)


def daemon_env() -> dict[str, str]:
    """The environment a demo daemon runs in (none of the caller's MONITOR_*)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}


async def until_stopped(*processes: asyncio.subprocess.Process, all_of: bool = False
                        ) -> None:
    """Until Ctrl-C, SIGTERM or the first process ends (`all_of`: the last)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ended = (asyncio.gather(*(p.wait() for p in processes)) if all_of
             else asyncio.wait([asyncio.create_task(p.wait()) for p in processes],
                               return_when=asyncio.FIRST_COMPLETED))
    await asyncio.wait([asyncio.ensure_future(ended), asyncio.create_task(stop.wait())],
                       return_when=asyncio.FIRST_COMPLETED)


async def run() -> int:
    if shutil.which("snmpd") is None:
        print("snmpd is missing: `make demo` installs it", file=sys.stderr)
        return 1
    running = Running()
    await running.start()
    inventory = running.inventory
    monitor = str(Path(sys.executable).parent / "monitor")
    daemon = await asyncio.create_subprocess_exec(monitor, "--settings", str(SETTINGS), "run",
                                                  env=daemon_env())
    users = "\n    ".join(f"{name:6s} {role}" + (f" of {customer}" if customer else "")
                           for name, role, customer, _ in DEMO_USERS)
    print(f"""
  sv-monitor demo: {len(inventory.devices)} simulated devices on 127.0.1.0/24 (TCP services,
  RTSP video: live, black and frozen, an ONVIF PTZ camera, snmpsim switches and DVRs
  (answering ONVIF; qd-dvr stopped recording two hours ago),
  net-snmp's snmpd), daemon pid {daemon.pid}.
  In another terminal:
    make demo-status                        current state of every check
    make demo-tickets                       the tickets the faults opened
    alert mails are printed here as they come, and kept in demo/var/mail/;
    open the link in one to acknowledge its ticket
    make demo-down DEVICE=jn-cam02          close a camera's RTSP port: DOWN within ~10 s
    make demo-up DEVICE=qd-cam02            plug in the camera that starts unplugged
    make demo-reboot DEVICE=jn-core-sw      the core switch reboots: a reboot event
    make demo-uplink-down DEVICE=qd-sw      the port room's switch loses its uplink
  The service desk: http://127.0.0.1:{HTTP_PORT}/ui/tickets  (password {DEMO_PASSWORD}):
    {users}
  Prometheus metrics: http://127.0.0.1:{HTTP_PORT}/metrics (dashboards and rules for them:
  exporters/grafana/, exporters/prometheus/rules.yml).
  Ctrl-C stops the demo.
""", flush=True)
    await until_stopped(daemon)
    if daemon.returncode is None:
        daemon.send_signal(signal.SIGTERM)
    code = await daemon.wait()
    await running.stop()
    return code


def control(action: str, device: str | None) -> int:
    inventory = load_inventory(INVENTORY)
    choices = list(inventory.devices) if action in ("down", "up") else list(SIMULATED)
    if device not in choices:
        print(f"usage: python -m demo {action} DEVICE — one of: {', '.join(choices)}",
              file=sys.stderr)
        return 2
    if action in ("down", "up"):
        CONTROL.mkdir(parents=True, exist_ok=True)
        flag = CONTROL / f"{device}.down"
        if action == "down":
            flag.touch()
        else:
            flag.unlink(missing_ok=True)
    else:
        sets = {"reboot": [(SYS_UPTIME, 100), (HR_UPTIME, 100)],  # the host's uptime too
                "uplink-down": [(UPLINK_OPER, 2)], "uplink-up": [(UPLINK_OPER, 1)]}[action]
        for oid, value in sets:
            asyncio.run(snmp_set(SIMULATED[device], SNMP_PORT, device, oid, value))
    print(f"{device}: {action} (watch the daemon's log and `make demo-status`)")
    return 0


PROMETHEUS_PORT = 9090


def prometheus() -> int:
    """Debian's Prometheus scraping the running demo, with the rules loaded."""
    if shutil.which("prometheus") is None:
        print("prometheus is missing: `make demo-prometheus` installs it", file=sys.stderr)
        return 1
    VAR.mkdir(exist_ok=True)
    config = VAR / "prometheus.yml"
    config.write_text(
        "# written by `python -m demo prometheus`\n"
        "global: {scrape_interval: 5s, evaluation_interval: 5s}\n"
        f"rule_files: [{HERE.parent / 'exporters' / 'prometheus' / 'rules.yml'}]\n"
        "scrape_configs:\n"
        "  - job_name: sv-monitor\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{HTTP_PORT}']}}]\n")
    print(f"Prometheus on http://127.0.0.1:{PROMETHEUS_PORT} (alerts: /alerts; try "
          "sv:cameras_online:ratio or sv_ticket_sla_seconds_left); Ctrl-C stops it",
          flush=True)
    os.execvp("prometheus", ["prometheus", f"--config.file={config}",
                             f"--storage.tsdb.path={VAR / 'prometheus'}",
                             f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}"])


ACTIONS = ("down", "up", "reboot", "uplink-down", "uplink-up")


def main(argv: list[str]) -> int:
    if argv[:1] == ["cluster"]:
        from demo import cluster
        return asyncio.run(cluster.run())
    if argv[:1] == ["kill"]:
        from demo import cluster
        return cluster.kill(argv[1] if len(argv) > 1 else None)
    if argv and argv[0] in ACTIONS:
        return control(argv[0], argv[1] if len(argv) > 1 else None)
    if argv == ["prometheus"]:
        return prometheus()
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
