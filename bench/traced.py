"""`python -m monitor` under tracemalloc, for `bench/scale.py --trace`.

On SIGUSR2 the daemon writes where its live Python memory was allocated (the top
lines, and the total) to the file named by ``SV_TRACE_OUT``.  Tracing costs CPU and
memory of its own: read the breakdown, not the RSS, of a traced run.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import tracemalloc
from types import FrameType


def dump(signum: int, frame: FrameType | None) -> None:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)])
    stats = snapshot.statistics("lineno")
    with open(os.environ["SV_TRACE_OUT"], "w") as out:
        total = sum(s.size for s in stats)
        print(f"traced {total / 1e6:.1f} MB in {sum(s.count for s in stats):,} blocks", file=out)
        for stat in stats[:40]:
            print(f"{stat.size / 1e6:8.1f} MB {stat.count:9,}  {stat.traceback}", file=out)


if __name__ == "__main__":
    tracemalloc.start(1)
    signal.signal(signal.SIGUSR2, dump)
    sys.argv = ["monitor", *sys.argv[1:]]
    runpy.run_module("monitor", run_name="__main__", alter_sys=True)
