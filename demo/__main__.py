"""``python -m demo``: start the simulated site and the daemon against it.

    python -m demo               run site + daemon until Ctrl-C
    python -m demo down DEVICE   take a simulated device down
    python -m demo up DEVICE     bring it back
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from demo.site import Site
from monitor.inventory import load_inventory

HERE = Path(__file__).resolve().parent
VAR = HERE / "var"
CONTROL = VAR / "control"
INVENTORY = HERE / "inventory.yaml"
SETTINGS = VAR / "monitor.toml"


def write_settings() -> None:
    VAR.mkdir(exist_ok=True)
    SETTINGS.write_text(
        "# written by `python -m demo`\n"
        f'inventory = "{INVENTORY}"\n'
        f'database_url = "sqlite+aiosqlite:///{VAR / "monitor.db"}"\n'
        'state_flush_interval = "5s"\n')


async def run() -> int:
    write_settings()
    inventory = load_inventory(INVENTORY)
    site = Site(inventory, CONTROL)
    site_task = asyncio.create_task(site.run())
    await asyncio.sleep(0.5)
    monitor = str(Path(sys.executable).parent / "monitor")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    daemon = await asyncio.create_subprocess_exec(monitor, "--settings", str(SETTINGS), "run",
                                                  env=env)
    print(f"""
  sv-monitor demo: {len(inventory.devices)} simulated devices on 127.0.1.0/24,
  daemon pid {daemon.pid}.
  In another terminal:
    make demo-status                      current state of every check
    make demo-down DEVICE=jn-cam02        close a camera's RTSP port: DOWN within ~10 s
    make demo-up DEVICE=qd-cam02          plug in the camera that starts unplugged
  Ctrl-C stops the demo.
""", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.create_task(daemon.wait())
    await asyncio.wait([waiter, asyncio.create_task(stop.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if daemon.returncode is None:
        daemon.send_signal(signal.SIGTERM)
    code = await daemon.wait()
    site_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await site_task
    return code


def control(action: str, device: str | None) -> int:
    inventory = load_inventory(INVENTORY)
    if device not in inventory.devices:
        print(f"usage: python -m demo {action} DEVICE — one of: "
              f"{', '.join(inventory.devices)}", file=sys.stderr)
        return 2
    CONTROL.mkdir(parents=True, exist_ok=True)
    flag = CONTROL / f"{device}.down"
    if action == "down":
        flag.touch()
    else:
        flag.unlink(missing_ok=True)
    print(f"{device}: {action} (watch `make demo-status`)")
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("down", "up"):
        return control(argv[0], argv[1] if len(argv) > 1 else None)
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
