"""ipycam's ONVIF service as a test peer: a third party's implementation, not ours.

ipycam (PyPI) is a virtual IP camera in pure Python.  Only its ONVIF SOAP service and
its HTTP handler run here, in a thread, on 127.0.0.1: its camera object would start
WS-Discovery (multicast, and a listener on every address), ffmpeg and a streamer,
none of which a test may or need to (PEERS.md).  It asks for WS-Security credentials
on every action, GetSystemDateAndTime included, which the ONVIF spec does not.
"""

from __future__ import annotations

import logging
import socketserver
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class _Camera:
    onvif: Any  # what ipycam's HTTP handler reads from its camera


class IpycamOnvif:
    """ipycam's ONVIF endpoint on a free loopback port."""

    def __init__(self, username: str = "admin", password: str = "ipycam-pass") -> None:
        from ipycam.config import CameraConfig
        from ipycam.http import IPCameraHTTPHandler
        from ipycam.onvif import ONVIFService
        from ipycam.ptz import PTZController
        logging.getLogger("ipycam").setLevel(logging.CRITICAL)  # its 500s log tracebacks
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler(
            IPCameraHTTPHandler))
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        config = CameraConfig(local_ip="127.0.0.1", onvif_port=self.port,
                              username=username, password=password)
        ptz = PTZController(output_width=config.main_width, output_height=config.main_height,
                            max_zoom=4.0)
        self.server.RequestHandlerClass.camera = _Camera(ONVIFService(config, ptz))  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(base: type) -> type:
    """A subclass, so the class attribute `camera` is this peer's alone."""
    return type("Handler", (base,), {})
