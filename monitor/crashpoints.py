"""A test seam: die by SIGKILL at a named point of the path from a fault to the mail.

``MONITOR_CRASH_AT=point[:n]`` kills the process the n-th time (default: the first)
it reaches `point`.  Unset -- always, outside the crash tests -- `reached` is one
dictionary lookup.  The points, in the order a fault passes them:

* ``state_written``  -- a state change is in the store, not yet seen by the fault engine;
* ``ticket_written`` -- a ticket was opened, raised or resolved (its audit row with it);
* ``outbox_written`` -- the ticket event's messages are in the outbox;
* ``sending``        -- a message is about to go to its channel;
* ``sent``           -- the channel accepted it; the outbox does not know yet.

`tests/test_crash.py` kills the daemon at each and checks what the engineer receives.
"""

from __future__ import annotations

import os
import signal
import sys

_seen: dict[str, int] = {}


def reached(point: str) -> None:
    """Die here if the environment asks for it."""
    spec = os.environ.get("MONITOR_CRASH_AT")
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _seen[point] = _seen.get(point, 0) + 1
    if _seen[point] >= int(nth or 1):
        sys.stderr.write(f"crash point {point} reached: SIGKILL\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
