"""The collector policy (`monitor.heap`): what survives a load is frozen; what a later
reload drops is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from monitor import heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_settle_freezes_what_survives_and_thaws_it_at_the_next() -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the cyclic collector frees it
    gone = weakref.ref(a)
    heap.settle()
    assert gc.get_freeze_count() > 0
    del a, b
    gc.collect()
    assert gone() is not None  # frozen: collections skip it
    heap.settle()  # the next load: thawed, collected
    assert gone() is None


async def test_settle_every_settles_again() -> None:
    import asyncio
    import contextlib

    node = Node()
    node.other = node
    gone = weakref.ref(node)
    heap.settle()
    del node
    task = asyncio.create_task(heap.settle_every(0.01))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if gone() is None:
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert gone() is None  # the periodic settle thawed and collected it


async def test_freeze_between_settles_keeps_young_survivors_out_of_collections() -> None:
    import asyncio
    import contextlib

    heap.settle()
    before = gc.get_freeze_count()
    made = [Node() for _ in range(1000)]  # a running daemon's new long-lived objects
    task = asyncio.create_task(heap.settle_every(3600.0, 0.01))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if gc.get_freeze_count() >= before + 1000:
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert gc.get_freeze_count() >= before + 1000
    a, b = made[0], made[1]
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del made, a, b
    gc.collect()
    assert gone() is not None  # frozen: its cycle waits for the next settle
    heap.settle()
    assert gone() is None


def test_freeze_collects_the_garbage_first() -> None:
    """A cycle already dead at a freeze is collected, not frozen until the next settle."""
    heap.settle()
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    heap.freeze()
    assert gone() is None
