"""Shared fixtures: free ports, a real PostgreSQL, store URLs for both backends, and the
real peers (snmpd, snmpsim, GStreamer's RTSP server) started once per session."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from demo.ports import free_port as free_port  # the tests import it from here
from demo.postgres import PG_BIN, PgServer
from monitor.store.store import Store
from probes.clients import SharedClients

if TYPE_CHECKING:
    from demo.peers.onvif_device import Device as OnvifDevice
    from tests.rtsp_peer import RtspServer
    from tests.snmp_agents import Snmpd, Snmpsim

REPO = Path(__file__).resolve().parent.parent



def _pg_server() -> PgServer:
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is not installed: run `make test` (it installs it)")
    return PgServer()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of our own on loopback; yields its base URL (no database)."""
    server = _pg_server()
    server.start()
    try:
        yield server.url
    finally:
        server.remove()


@pytest.fixture
def own_postgres() -> Iterator[PgServer]:
    """A PostgreSQL server for this test alone (to stop under a running daemon)."""
    server = _pg_server()
    server.start()
    try:
        yield server
    finally:
        server.remove()


_db_counter = 0


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the test PostgreSQL."""
    global _db_counter
    _db_counter += 1
    name = f"t{os.getpid()}_{_db_counter}"
    port = postgres_server.rsplit(":", 1)[1]
    subprocess.run([str(PG_BIN.parent / "bin" / "psql") if (PG_BIN / "psql").exists()
                    else "psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-q",
                    "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    return f"{postgres_server}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.peers)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for each backend the store supports."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An open store on `store_url` (a module that needs PostgreSQL alone overrides
    `store_url` with `postgres_url`)."""
    s = await Store.open(store_url)
    yield s
    await s.close()


@pytest.fixture(autouse=True)
def _no_settings_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a settings file or MONITOR_* variables from the machine."""
    for name in list(os.environ):
        if name.startswith("MONITOR_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr("monitor.settings.DEFAULT_SETTINGS_FILE", Path("/nonexistent/monitor.toml"))


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Iterator[None]:
    """Close the event loop looptime's plugin makes for a *sync* test.

    looptime 0.9 asks the policy for the running loop of every test through
    ``policy.get_event_loop()`` (in its own, outer, wrapper of this hook), which for a
    sync test creates a fresh loop that nobody closes -- and that a test calling
    ``asyncio.run`` orphans at once (a ResourceWarning, an error under
    ``filterwarnings=error``).  Inside looptime's wrapper the loop exists: take it here
    and close it after the test.
    """
    stray = None
    if not inspect.iscoroutinefunction(inspect.unwrap(pyfuncitem.obj)):  # (pytest-asyncio wraps)
        policy = asyncio.get_event_loop_policy()
        stray = getattr(getattr(policy, "_local", None), "_loop", None)
    try:
        return (yield)
    finally:
        if isinstance(stray, asyncio.AbstractEventLoop) and not stray.is_running() \
                and not stray.is_closed():
            stray.close()
            if getattr(getattr(policy, "_local", None), "_loop", None) is stray:
                policy.set_event_loop(None)


# Real peers started once per session, shared by every folder of tests.

@pytest.fixture
async def clients() -> AsyncIterator[SharedClients]:
    """The probes' shared clients, closed after the test."""
    shared = SharedClients()
    yield shared
    await shared.close()


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    from tests.snmp_agents import Snmpd
    agent = Snmpd(tmp_path_factory.mktemp("snmpd"))
    agent.start()
    yield agent
    agent.stop()


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    from tests.snmp_agents import Snmpsim
    sim = Snmpsim(Path(tmp_path_factory.mktemp("snmpsim")))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def rtsp_server() -> Iterator[RtspServer]:
    from tests.rtsp_peer import RtspServer
    server = RtspServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rtsp_auth_server() -> Iterator[RtspServer]:
    from tests.rtsp_peer import RtspServer
    server = RtspServer(("admin", "s3cret"))
    yield server
    server.stop()


@pytest.fixture
async def emulate() -> AsyncIterator[Callable[[OnvifDevice], Awaitable[int]]]:
    """Serve ONVIF device emulators (demo/peers/onvif_device.py) on loopback: call it
    with a `Device`, get its port; all stopped after the test."""
    from aiohttp import web

    from demo.peers.onvif_device import onvif_app
    runners: list[web.AppRunner] = []

    async def start(device: OnvifDevice) -> int:
        runner = web.AppRunner(onvif_app(device), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return int(runner.addresses[0][1])

    yield start
    for runner in runners:
        await runner.cleanup()


class LoopTurns:
    """How many times the event loop has come round since it started counting (a task
    that yields and counts): a step that never yields shows as no turns."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0)
            self.count += 1


@pytest.fixture
async def loop_turns() -> AsyncIterator[LoopTurns]:
    turns = LoopTurns()
    task = asyncio.create_task(turns.run())
    await asyncio.sleep(0)
    yield turns
    task.cancel()
