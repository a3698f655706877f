"""A small seeded mutation fuzzer: valid inputs (seeds) mutated at random, each fed to a
parser that reads outside input.  A case ends one of four ways:

* accepted -- the parser returned;
* clean -- it raised one of the errors it promises (a message for the user);
* crash -- anything else (a traceback, an unexpected exception type);
* hang -- it ran past the time limit (a pure-Python loop is interrupted by a timer).

`tests/test_fuzz.py` runs a few thousand cases per parser in `make test`;
`python bench/fuzz.py` runs 100,000 and prints the table the README shows.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

HANG_S = 5.0

# Pieces a hostile or broken peer sends that valid inputs never contain.
TOKENS: tuple[bytes, ...] = (
    b"\x00", b"\xff", b"\xc3\x28", b"\r\n", b"\n\n", b"\t", b" ", b":", b"::", b"{", b"}",
    b"[", b"]", b"[" * 200, b"{" * 200, b"&a ", b"*a", b"!!python/object:os.system",
    b"!!binary ", b"~", b"null", b".inf", b"-.inf", b".nan", b"yes", b"0x1F", b"2026-13-45",
    b"9" * 5000, b"-1", b"1e309", b"<<: *a", b"%", b"\"", b"'", b"\\", b"#", b"|", b">",
    b"A" * 70000, b"\xef\xbb\xbf", b"\xe4\xb8\xad\xe6\x96\x87", b"<", b"</", b"&lt;",
    b"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>", b"&e;", b"]]>",
    b"Content-Length: 99999999\r\n", b"Content-Length: -1\r\n", b"Transfer-Encoding: chunked",
    b"HTTP/1.1", b"RTSP/1.0 200 OK\r\n", b"\x30\x82\xff\xff", b"\x02\x09", b"\x06\x00",
)


def mutate(rng: random.Random, seed: bytes, seeds: Sequence[bytes]) -> bytes:
    """One to four random edits of `seed`."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        i = rng.randint(0, len(data))
        if op == 0 and data:  # flip a byte
            data[min(i, len(data) - 1)] = rng.randrange(256)
        elif op == 1:  # insert random bytes
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2 and data:  # delete a range
            del data[i:i + rng.randint(1, 16)]
        elif op == 3:  # cut here
            del data[i:]
        elif op == 4:  # a token
            data[i:i] = rng.choice(TOKENS)
        elif op == 5 and data:  # duplicate a chunk
            j = rng.randint(0, len(data))
            data[i:i] = data[min(i, j):max(i, j)][:4096]
        elif op == 6:  # splice from another seed
            other = rng.choice(seeds)
            j = rng.randint(0, len(other))
            data[i:] = other[j:]
        elif op == 7 and data:  # swap two lines
            lines = bytes(data).split(b"\n")
            if len(lines) > 1:
                a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[a], lines[b] = lines[b], lines[a]
                data = bytearray(b"\n".join(lines))
    return bytes(data[:200_000])


@dataclass
class Target:
    """A parser under fuzzing: `run` takes one input (sync or async); `clean` are the
    exception types it promises."""

    name: str
    seeds: list[bytes]
    run: Callable[[bytes], Any]
    clean: tuple[type[BaseException], ...]
    setup: Callable[[], Any] | None = None
    teardown: Callable[[], Any] | None = None


@dataclass
class Report:
    """What became of the cases of one target."""

    name: str
    cases: int = 0
    accepted: int = 0
    clean: int = 0
    crashes: list[tuple[bytes, str]] = field(default_factory=list)
    hangs: list[bytes] = field(default_factory=list)
    slowest_s: float = 0.0
    slowest: bytes = b""
    elapsed_s: float = 0.0


class _Hang(BaseException):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def fuzz(target: Target, cases: int, seed: int = 0, *, keep: int = 5) -> Report:
    """Run `cases` mutated inputs (the seeds themselves first) through `target`."""
    rng = random.Random(f"{target.name}:{seed}")
    report = Report(target.name)
    loop = asyncio.new_event_loop()
    previous = signal.signal(signal.SIGALRM, _alarm)
    if target.setup is not None:
        prepared = target.setup()
        if isinstance(prepared, Awaitable):
            loop.run_until_complete(prepared)
    start = time.perf_counter()
    try:
        for n in range(cases):
            data = target.seeds[n] if n < len(target.seeds) else \
                mutate(rng, rng.choice(target.seeds), target.seeds)
            report.cases += 1
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, HANG_S)
            try:
                result = target.run(data)
                if isinstance(result, Awaitable):
                    loop.run_until_complete(asyncio.wait_for(result, HANG_S))
                report.accepted += 1
            except _Hang:
                report.hangs.append(data)
            except TimeoutError:
                report.hangs.append(data)
            except target.clean:
                report.clean += 1
            except Exception:
                if len(report.crashes) < keep:
                    report.crashes.append((data, traceback.format_exc(limit=8)))
                else:
                    report.crashes.append((data, ""))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.perf_counter() - t0
            if took > report.slowest_s:
                report.slowest_s, report.slowest = took, data
    finally:
        report.elapsed_s = time.perf_counter() - start
        signal.signal(signal.SIGALRM, previous)
        if target.teardown is not None:
            done = target.teardown()
            if isinstance(done, Awaitable):
                loop.run_until_complete(done)
        loop.close()
    return report
