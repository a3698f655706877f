"""Video benchmark: cameras checked per second and CPU per check, on one core.

Starts GStreamer's RTSP server (demo/peers/rtsp_server.py) and the ONVIF device
emulator (demo/peers/onvif_device.py) as processes pinned to the other core, pins
itself to core 0, and runs, for a few seconds each, the `onvif` check, the `rtsp`
check (OPTIONS + DESCRIBE) and the `video` check (3 frames 1 s apart, decoded and
diagnosed) with many in flight.  CPU is this process's own (getrusage), threads
included.

Run:  .venv/bin/python bench/video.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from monitor.vocab import Status  # noqa: E402
from probes import onvif  # noqa: E402
from probes.base import Credentials, ProbeContext, Target  # noqa: E402
from probes.clients import SharedClients  # noqa: E402
from probes.video import probe as video  # noqa: E402
from probes.video import rtsp  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def start(cmd: list[str], core: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["taskset", "-c", str(core), *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    assert proc.stdout is not None
    if "ready" not in proc.stdout.readline():
        raise SystemExit(f"{cmd[1]} did not start")
    return proc


async def measure(kind: Any, params: Any, creds: Credentials, seconds: float,
                  in_flight: int) -> tuple[float, float, int]:
    clients = SharedClients()
    target = Target("cam", "camera", "127.0.0.1", creds)
    loop = asyncio.get_running_loop()
    done = failed = 0
    end = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done, failed
        while time.monotonic() < end:
            r = await kind.run(target, params, ProbeContext(loop.time() + 20, clients))
            if r.status is Status.OK:
                done += 1
            else:
                failed += 1

    cpu0, t0 = cpu(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed, used = time.monotonic() - t0, cpu() - cpu0
    await clients.close()
    return done / elapsed, used / max(done, 1), failed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    mine, theirs = cores[0], cores[-1]
    os.sched_setaffinity(0, {mine})
    rtsp_port, onvif_port = free_port(), free_port()
    servers = [
        start(["/usr/bin/python3", "demo/peers/rtsp_server.py", str(rtsp_port)], theirs),
        start([sys.executable, "-m", "demo.peers.onvif_device", str(onvif_port)], theirs),
    ]
    url = f"rtsp://127.0.0.1:{rtsp_port}/live"
    try:
        print(f"this process on core {mine}; RTSP server and ONVIF emulator on core {theirs}; "
              f"{args.seconds:g} s per measurement")
        runs = [
            ("ONVIF (time, services, info, profiles, stream URI, PTZ status)", onvif.PROBE,
             onvif.OnvifParams(port=onvif_port), Credentials("admin", "onvif-pass"), 20),
            ("RTSP OPTIONS + DESCRIBE", rtsp.PROBE, rtsp.RtspParams(url=url), Credentials(), 50),
            ("frames: 3 frames 1 s apart, decoded, diagnosed", video.PROBE,
             video.VideoParams(url=url), Credentials(), 8),
        ]
        for label, kind, params, creds, in_flight in runs:
            rate, per_check, failed = asyncio.run(
                measure(kind, params, creds, args.seconds, in_flight))
            print(f"  {label:56s} {rate:7.1f} cameras/s  {per_check * 1000:7.1f} ms CPU per "
                  f"check  ({in_flight} in flight{f', {failed} failed' if failed else ''})")
    finally:
        for server in servers:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
