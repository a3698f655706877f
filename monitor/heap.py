"""The process's collector policy: what is loaded once is not scanned again.

CPython's cyclic collector walks every tracked object in its oldest generation now
and then.  A daemon watching 20,000 checks holds some 500,000 of them (modules, the
inventory, the jobs, the state machines, the last results): a full collection took
0.14-0.22 s measured (bench/stalls.py), the event loop standing still meanwhile, and
one came every few seconds -- most of the scheduler's lag p99.  So:

- `settle` collects once and moves what survived to the permanent generation
  (`gc.freeze`), which collections skip.  It runs after each load of the inventory
  and then every `SETTLE_EVERY_S` (the last results, the tickets read, the caches of
  a running daemon are long-lived too); the frozen objects are thawed first, so the
  ones dropped since are still collected.  One pause per settle, instead of one every
  few seconds.
- the youngest generation is collected every `YOUNG_THRESHOLD` allocations rather
  than 700: most of what a check run allocates dies young by reference counting, and
  fewer young collections promote less to the old generation.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)
SETTLE_EVERY_S = 300.0
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Collect, then keep what survives out of future collections (see the module)."""
    start = time.perf_counter()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.debug("heap settled", extra={"fields": {
        "frozen": gc.get_freeze_count(), "seconds": round(time.perf_counter() - start, 3)}})


async def settle_every(seconds: float = SETTLE_EVERY_S) -> None:
    """`settle` every `seconds`, until cancelled."""
    while True:
        await asyncio.sleep(seconds)
        settle()
