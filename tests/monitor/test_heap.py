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
