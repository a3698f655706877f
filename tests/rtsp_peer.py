"""GStreamer's RTSP server (demo/peers/rtsp_server.py) as a test peer."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from tests.conftest import REPO, free_port


class RtspServer:
    """demo/peers/rtsp_server.py under the system Python (python3-gi lives there)."""

    def __init__(self, auth: tuple[str, str] | None = None) -> None:
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
