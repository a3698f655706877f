"""The process's collector policy: what is loaded once is not scanned again.

CPython's cyclic collector walks every tracked object in its oldest generation now
and then.  A daemon watching 20,000 checks holds some 500,000 of them (modules, the
inventory, the jobs, the state machines): a full collection took 0.22 s measured
(bench/scale.py), the event loop standing still meanwhile -- most of the scheduler's
lag p99.  After the inventory is applied, `settle` collects once and moves what
survived to the permanent generation (`gc.freeze`), which collections skip; what
changes afterwards (results, values) is collected as usual.  At the next load the
frozen objects are thawed first, so the ones a reload dropped are still collected.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def settle() -> None:
    """Collect, then keep what survives out of future collections (see the module)."""
    start = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.debug("heap settled", extra={"fields": {
        "frozen": gc.get_freeze_count(), "seconds": round(time.perf_counter() - start, 3)}})
