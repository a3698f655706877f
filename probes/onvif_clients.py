"""ONVIF clients kept between runs, one per device.

Building an `ONVIFCamera` costs an HTTP session, a zeep client per service (the
parsed WSDL is cached, the binding is not) and two round trips to find the
service addresses; a check every few minutes repeated all of it.  Here a client
is lent to one run at a time and given back when the run went well, so the next
run starts from its sessions and addresses.  A run that failed in any way --
a fault, a timeout, a broken reply -- closes it instead, and the next run starts
afresh: a device rebooted with new addresses or a new clock is never talked to
with the old ones.  Credentials changed by a reload make a new client.  The
number kept is bounded (least recently used closed first): an idle client holds
a session and its zeep bindings, a few hundred kilobytes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

# Vendor quirk: onvif-zeep-async (4.3) calls logging.basicConfig(level=INFO) when
# imported, which would print every library's INFO lines in the CLI.  Undo it.
_root = logging.getLogger()
_saved = (list(_root.handlers), _root.level)
from onvif import ONVIFCamera  # noqa: E402
from onvif.exceptions import ONVIFError  # noqa: E402

_root.handlers[:], _root.level = _saved
__all__ = ["Lent", "ONVIFCamera", "ONVIFError", "OnvifClients", "new_client"]

log = logging.getLogger(__name__)

Key = tuple[str, int]


@dataclass(slots=True)
class Lent:
    """A client lent to one run; `fresh`: it has not found its service addresses yet
    (call `update_xaddrs`)."""

    camera: ONVIFCamera
    fresh: bool

    async def renew(self) -> None:
        """Close this client and start again with a new one (the device changed)."""
        await _close(self.camera)
        self.camera = new_client(self.camera.host, self.camera.port, self.camera.user,
                           self.camera.passwd)
        self.fresh = True


def new_client(address: str, port: int, username: str | None, password: str | None) -> ONVIFCamera:
    return ONVIFCamera(address, port, username or "", password or "", no_cache=True,
                       adjust_time=True)


async def _close(camera: ONVIFCamera) -> None:
    try:
        await camera.close()
    except Exception as exc:  # a session half torn down by a failed run
        log.debug("closing an ONVIF client: %s", exc)


class OnvifClients:
    """Idle ONVIF clients by device address and port (at most `size` of them)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._idle: OrderedDict[Key, ONVIFCamera] = OrderedDict()
        self.made = 0  # clients built (a test and the metrics can tell reuse from churn)

    def __len__(self) -> int:
        return len(self._idle)

    @asynccontextmanager
    async def lend(self, address: str, port: int, username: str | None,
                   password: str | None) -> AsyncIterator[Lent]:
        """A client for the device, this run's alone; kept for the next run only if
        the block ends without an exception."""
        key = (address, int(port))
        camera = self._idle.pop(key, None)
        if camera is not None and (camera.user, camera.passwd) != (username or "",
                                                                   password or ""):
            await _close(camera)
            camera = None
        lent = Lent(camera or new_client(address, port, username, password), camera is None)
        if lent.fresh:
            self.made += 1
        try:
            yield lent
        except BaseException:
            await _close(lent.camera)
            raise
        await self._give_back(key, lent.camera)

    async def _give_back(self, key: Key, camera: ONVIFCamera) -> None:
        # The pool changes before the first await: runs giving back at once (several
        # runs of one device) must not overwrite each other's client unclosed.
        surplus = []
        other = self._idle.pop(key, None)
        if other is not None and other is not camera:  # two runs at once: keep one
            surplus.append(other)
        self._idle[key] = camera
        while len(self._idle) > self.size:
            surplus.append(self._idle.popitem(last=False)[1])
        for extra in surplus:
            await _close(extra)

    async def close(self) -> None:
        """Close every idle client."""
        while self._idle:
            _, camera = self._idle.popitem()
            await _close(camera)
