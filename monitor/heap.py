"""The process's collector policy: what is loaded once is not scanned again.

CPython's cyclic collector walks every tracked object in its oldest generation now
and then.  A daemon watching 20,000 checks holds some 500,000 of them (modules, the
inventory, the jobs, the state machines, the last results): a full collection took
0.14-0.22 s measured (bench/stalls.py), the event loop standing still meanwhile, and
one came every few seconds -- most of the scheduler's lag p99.  So:

- `settle` collects once and moves what survived to the permanent generation
  (`gc.freeze`), which collections skip, after each load of the inventory and every
  `SETTLE_EVERY_S`; the frozen objects are thawed first, so the ones dropped since
  are still collected.  It is one full pause (0.5 s measured at 20,000 checks), so
  it is rare: hourly.
- in between, every `FREEZE_EVERY_S`, `freeze` collects what is not frozen (the
  last half minute's survivors: tens of ms) and freezes what survives: so no full
  collection ever walks more than that.  What was frozen and dies by reference
  counting is freed as ever; only a cycle still alive at a freeze (an exception in
  flight) and dead later waits for the next `settle`.  Measured: freezing without
  collecting first let the cyclic garbage of 2,000 timeouts a minute pile up
  (+4 MB a minute).

The young generations keep CPython's thresholds: tried at 10,000 allocations instead of
700, their collections cost more in all (3 % of a core instead of 1.5 %) and paused up
to 35 ms instead of 6.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)
SETTLE_EVERY_S = 3600.0
FREEZE_EVERY_S = 30.0


def settle() -> None:
    """Collect, then keep what survives out of future collections (see the module)."""
    start = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.debug("heap settled", extra={"fields": {
        "frozen": gc.get_freeze_count(), "seconds": round(time.perf_counter() - start, 3)}})


def freeze() -> None:
    """Collect what is not frozen, freeze what survives (see the module)."""
    gc.collect()
    gc.freeze()


async def settle_every(seconds: float = SETTLE_EVERY_S,
                       freeze_s: float = FREEZE_EVERY_S) -> None:
    """`freeze` every `freeze_s` and `settle` every `seconds`, until cancelled."""
    loop = asyncio.get_running_loop()
    next_settle = loop.time() + seconds
    while True:
        await asyncio.sleep(min(freeze_s, max(0.0, next_settle - loop.time())))
        if loop.time() >= next_settle:
            settle()
            next_settle = loop.time() + seconds
        else:
            freeze()
