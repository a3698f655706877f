"""YAML loading that remembers where each key and item was written.

PyYAML's libyaml-backed safe loader builds plain dicts and lists; the subclasses
here also carry the line of every key (`LineDict.key_lines`) and item
(`LineList.item_lines`), so validation errors can name the line.  Duplicate keys,
which YAML forbids and PyYAML silently accepts, are rejected.

Implicit types are YAML 1.2's core schema, not PyYAML's YAML 1.1: only ``true`` /
``false``, ``null`` / ``~``, decimal integers and decimal floats (``.inf``, ``.nan``)
are typed; everything else is a string as written.  So an id ``2026-01-01`` or
``0x1F``, a name ``yes``, an office hour ``08:30`` (YAML 1.1: the number 510) stay
what they look like, and the models parse dates and times from their text.  A
"number" too long to be one (over 30 digits) is a string too, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from typing import Any

import yaml
from yaml.constructor import ConstructorError

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LineDict(dict[Any, Any]):
    """A mapping with the line (1-based) of itself and of each key."""

    line: int
    key_lines: dict[Any, int]


class LineList(list[Any]):
    """A sequence with the line (1-based) of itself and of each item."""

    line: int
    item_lines: list[int]


class _Loader(_Base):  # type: ignore[misc]
    pass


_Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
        ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("int", r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
        ("float", r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
                  r"|[-+]?[0-9]+[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
         "-+0123456789."),
        ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("merge", r"^(?:<<)$", "<")):
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern),
                                  list(_first))


def _mapping(loader: Any, node: yaml.MappingNode) -> Iterator[LineDict]:
    loader.flatten_mapping(node)
    data = LineDict()
    data.line, data.key_lines = node.start_mark.line + 1, {}
    yield data
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise ConstructorError("while constructing a mapping", node.start_mark,
                                   "found an unhashable key", key_node.start_mark)
        if key in data:
            raise ConstructorError("while constructing a mapping", node.start_mark,
                                   f"found duplicate key {key!r}", key_node.start_mark)
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1


def _sequence(loader: Any, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    data.line = node.start_mark.line + 1
    data.item_lines = [child.start_mark.line + 1 for child in node.value]
    yield data
    data.extend(loader.construct_object(child, deep=True) for child in node.value)


def _timestamp(loader: Any, node: yaml.ScalarNode) -> Any:
    # A date that looks like one but is not (2027-02-30) raised a bare ValueError
    # without a line; make it a YAML error with its mark like any other.
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        raise ConstructorError(None, None, f"{node.value!r} is not a valid date ({exc})",
                               node.start_mark) from exc


def _int(loader: Any, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    if len(text.lstrip("+-")) > 30:  # no count of anything: keep the text
        return text
    return int(text)


def _float(loader: Any, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    if len(text) > 60:
        return text
    return loader.construct_yaml_float(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_constructor("tag:yaml.org,2002:float", _float)
_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_Loader.add_constructor("tag:yaml.org,2002:seq", _sequence)


def load(text: str) -> Any:
    """Parse one YAML document; `yaml.YAMLError` (with marks) on bad syntax."""
    return yaml.load(text, Loader=_Loader)


def line_of(root: Any, loc: tuple[str | int, ...]) -> int | None:
    """The line of the deepest node of `loc` that exists in `root`."""
    node = root
    line = getattr(node, "line", None)
    for key in loc:
        if isinstance(node, LineDict) and key in node:
            line = node.key_lines[key]
        elif isinstance(node, LineList) and isinstance(key, int) and 0 <= key < len(node):
            line = node.item_lines[key]
        else:
            break
        node = node[key]
    return line
