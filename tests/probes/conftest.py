"""Real SNMP agents, started once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.snmp_agents import Snmpd, Snmpsim


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    agent = Snmpd(tmp_path_factory.mktemp("snmpd"))
    agent.start()
    yield agent
    agent.stop()


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    sim = Snmpsim(Path(tmp_path_factory.mktemp("snmpsim")))
    sim.start()
    yield sim
    sim.stop()


class RtspServer:
    """demo/peers/rtsp_server.py under the system Python (python3-gi lives there)."""

    def __init__(self, auth: tuple[str, str] | None = None) -> None:
        import shutil
        import socket
        import subprocess

        from tests.conftest import REPO, free_port
        python = "/usr/bin/python3"
        if shutil.which(python) is None or subprocess.run(
                [python, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
                capture_output=True).returncode:
            pytest.fail("GStreamer's RTSP server is missing: run `make test` (it installs it)")
        self.port = free_port(socket.SOCK_STREAM)
        self.proc = subprocess.Popen(
            [python, str(REPO / "demo" / "peers" / "rtsp_server.py"), str(self.port),
             *(auth or ())], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("the RTSP server did not start")

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="session")
def rtsp_server() -> Iterator[RtspServer]:
    server = RtspServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rtsp_auth_server() -> Iterator[RtspServer]:
    server = RtspServer(("admin", "s3cret"))
    yield server
    server.stop()
