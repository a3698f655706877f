"""Event subscriptions to the ONVIF devices that offer them (`probes.onvif_events`).

One watch per device with an ``onvif`` check whose ``events`` is on (the default);
it follows the inventory like the checks do: started, restarted with new
credentials, stopped with the device.  What a device reports is handed to the
core, which records it and re-runs that device's checks at once: the checks
confirm, the event alone opens nothing.  A device without an event service ends
its watch ("unsupported"); one whose subscription fails is retried with backoff.
How each watch goes is in `states` (for `/metrics` and the log).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.events import CheckKey

if TYPE_CHECKING:
    from probes.onvif_events import CameraEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WatchSpec:
    """Where and as whom to subscribe."""

    address: str
    port: int
    username: str | None
    password: str | None


class CameraWatchers:
    """The running watches, by the ``onvif`` check they belong to."""

    def __init__(self, on_event: Callable[[CheckKey, CameraEvent], None]) -> None:
        self._on_event = on_event
        self._running: dict[CheckKey, tuple[WatchSpec, asyncio.Task[None]]] = {}
        self._ending: set[asyncio.Task[None]] = set()  # cancelled, still unsubscribing
        self.states: dict[CheckKey, tuple[str, str]] = {}  # state, detail
        self.events = Counter[str]()  # by kind, since the start

    def apply(self, wanted: Mapping[CheckKey, WatchSpec]) -> None:
        """Watch exactly `wanted`; a watch whose device moved or whose credentials
        changed starts again."""
        for key, (spec, task) in list(self._running.items()):
            if wanted.get(key) != spec:
                task.cancel()
                self._ending.add(task)
                task.add_done_callback(self._ending.discard)
                del self._running[key]
                self.states.pop(key, None)
        for key, spec in wanted.items():
            if key not in self._running:
                task = asyncio.create_task(self._watch(key, spec), name=f"events {key}")
                self._running[key] = (spec, task)

    async def _watch(self, key: CheckKey, spec: WatchSpec) -> None:
        def said(state: str, detail: str) -> None:
            if self.states.get(key, ("",))[0] != state:
                level = logging.WARNING if state == "failed" else logging.INFO
                log.log(level, f"camera events {state}", extra={"fields": {
                    "device": key.device_id, "detail": detail}})
            self.states[key] = (state, detail)

        def heard(event: CameraEvent) -> None:
            self.events[event.kind] += 1
            self._on_event(key, event)

        from probes.onvif_events import watch  # the ONVIF stack loads only when used
        try:
            await watch(spec.address, spec.port, spec.username, spec.password, heard,
                        on_state=said)
        except Exception as exc:  # a bug here must not pass silently
            said("failed", f"{type(exc).__name__}: {exc}")
            log.exception("camera events watch crashed", extra={"fields": {
                "device": key.device_id}})

    async def stop(self) -> None:
        """Cancel every watch (unsubscribing where the device still answers)."""
        tasks = [task for _, task in self._running.values()] + list(self._ending)
        self._running.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
