"""Every reason code a probe can return is in the README's list.

The codes are collected from the probes' source (their syntax tree, not a list kept
by hand): the reason argument of every `ProbeResult(...)`, every problem recorded as
`(Status.X, "reason", detail)`, every `GrabError` / `RtspError` / `ProbeResult`
reason, the `reason` of the SNMP error classes, and the picture verdicts.  A new
code without a line in the README fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from probes.video.quality import VERDICTS

REPO = Path(__file__).resolve().parent.parent
RAISERS = {"GrabError": 0, "RtspError": 0, "ProbeResult": 1, "problem": 1}
NOT_CODES = {"threshold"}  # the core's marker; the README names `<value>_high/_low`


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) \
        else None


def _choices(node: ast.AST) -> set[str]:
    if isinstance(node, ast.IfExp):
        return _choices(node.body) | _choices(node.orelse)
    code = _literal(node)
    return {code} if code else set()


def reasons_in(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                getattr(node.func, "id", "")
            if name in RAISERS and len(node.args) > RAISERS[name]:
                code = _literal(node.args[RAISERS[name]])
                if code:
                    found.add(code)
            for kw in node.keywords:
                if kw.arg == "reason" and (code := _literal(kw.value)):
                    found.add(code)
        elif isinstance(node, ast.Tuple) and len(node.elts) == 3 and isinstance(
                node.elts[0], ast.Attribute) and getattr(node.elts[0].value, "id", "") == \
                "Status" and (code := _literal(node.elts[1])):
            found.add(code)  # (Status.WARNING, "ptz_error", detail)
        elif isinstance(node, ast.Assign) and any(
                getattr(t, "id", "") == "reason" for t in node.targets):
            found |= _choices(node.value)  # reason = "a" if x else "b" (not f-strings)
        elif isinstance(node, ast.Dict):  # a default threshold's {"reason": "..."}
            for key, value in zip(node.keys, node.values, strict=True):
                if key is not None and _literal(key) == "reason" and (code := _literal(value)):
                    found.add(code)
        elif isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "Reason":
            found.add(node.attr.lower())
    return found


def test_every_reason_is_in_the_readme() -> None:
    codes: set[str] = set(VERDICTS)
    for path in sorted((REPO / "probes").rglob("*.py")):
        codes |= reasons_in(path.read_text())
    codes -= NOT_CODES
    readme = (REPO / "README.md").read_text()
    start = readme.index("* `reason`: a machine code")
    listed = set(re.findall(r"`([a-z_]+)`", readme[start:readme.index("* `detail`", start)]))
    missing = sorted(codes - listed)
    assert not missing, f"reasons the probes return that README.md does not list: {missing}"
    assert len(codes) > 40  # the collection itself works


def test_the_collector_finds_each_form() -> None:
    source = '''
ProbeResult(Status.DOWN, "one", "x")
ProbeResult(Status.DOWN, reason="two")
raise GrabError("three", "x")
problems.append((Status.WARNING, "four", "x"))
reading.problem(Status.WARNING, "five", "x")
reason = "six" if x else "seven"
ProbeResult(Status.OK, Reason.AUTH_FAILED)
PROBE = ProbeKind(default_thresholds={"x": {"warning": 1, "reason": "eight"}})
'''
    assert reasons_in(source) == {"one", "two", "three", "four", "five", "six", "seven",
                                  "auth_failed", "eight"}
