"""Heavy libraries loaded when first used, not when the daemon starts.

PyAV and numpy (~32 MB of a daemon's memory, measured) serve only the video checks;
a poller of switches never touches them.  `module` is the standard library's recipe
(`importlib.util.LazyLoader`): the module object exists at once, its code runs at the
first attribute read.  Type checkers see the real modules (import them under
``TYPE_CHECKING`` beside the lazy ones).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """`name`, imported at the first access to one of its attributes."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    lazy = importlib.util.module_from_spec(spec)
    sys.modules[name] = lazy
    loader.exec_module(lazy)
    return lazy
