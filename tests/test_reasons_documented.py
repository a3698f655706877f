"""The result reasons are one enumeration (`monitor.vocab.Reason`), and everyone uses it.

* The README's list of reason codes is exactly `Reason` (both ways).
* The probes name reasons only as `Reason.X`: their source (syntax tree) has no string
  literal where a reason goes -- the argument of `ProbeResult(...)`,
  `ProbeResult.down/error`, a problem `(Status.X, reason, detail)`, a `GrabError` /
  `RtspError`, an error class's `reason`, a `reason = ...`, a default threshold's
  ``{"reason": ...}`` -- so a code cannot exist
  that the list lacks.
* Every member is returned by something (no dead codes), the default fault rules and
  the dashboards' value mappings name members only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from exporters.dashboards import REASON_TEXT
from monitor.faults.levels import DEFAULT_RULES, FaultRules, is_reason
from monitor.vocab import Reason

REPO = Path(__file__).resolve().parent.parent
RAISERS = {"GrabError": 0, "RtspError": 0, "ProbeResult": 1, "problem": 1, "down": 0,
           "error": 0, "ProbeError": 1}


def _reason_nodes(tree: ast.AST) -> list[ast.AST]:
    """The expressions that stand where a reason goes."""
    out: list[ast.AST] = []

    def choices(node: ast.AST) -> list[ast.AST]:
        if isinstance(node, ast.IfExp):
            return choices(node.body) + choices(node.orelse)
        return [node]

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                getattr(node.func, "id", "")
            if name in RAISERS and len(node.args) > RAISERS[name]:
                out += choices(node.args[RAISERS[name]])
            out += [c for kw in node.keywords if kw.arg == "reason" for c in choices(kw.value)]
        elif isinstance(node, ast.Tuple) and len(node.elts) == 3 and isinstance(
                node.elts[0], ast.Attribute) and getattr(node.elts[0].value, "id", "") == \
                "Status":
            out += choices(node.elts[1])  # (Status.WARNING, Reason.PTZ_ERROR, detail)
        elif isinstance(node, ast.Assign) and any(
                getattr(t, "id", "") == "reason" for t in node.targets):
            out += choices(node.value)
        elif isinstance(node, ast.Dict):  # a default threshold's {"reason": ...}
            out += [v for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == "reason"]
    return out


def literal_reasons(source: str) -> list[str]:
    """The string literals standing where a reason goes (there should be none)."""
    return [n.value for n in _reason_nodes(ast.parse(source))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def named_reasons(source: str) -> set[str]:
    """The members named as ``Reason.X``."""
    return {n.attr for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Attribute) and getattr(n.value, "id", "") == "Reason"}


def _sources(*folders: str) -> dict[str, str]:
    return {p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8")
            for folder in folders for p in sorted((REPO / folder).rglob("*.py"))}


def readme_reasons() -> set[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("* `reason`: a machine code") + len("* `reason`")
    return set(re.findall(r"`([a-z_]+)`", readme[start:readme.index("* `detail`", start)]))


def test_the_readme_lists_exactly_the_reasons() -> None:
    # (less the threshold form and the metric named)
    listed = readme_reasons() - {"value", "storage_used_ratio_high", "sv_check_reason"}
    codes = {r.value for r in Reason}
    assert sorted(codes - listed) == [], "reasons README.md does not list"
    assert sorted(listed - codes) == [], "README.md lists codes that are not reasons"


def test_the_probes_name_reasons_only_from_the_enumeration() -> None:
    found = {path: codes for path, source in _sources("probes").items()
             if (codes := literal_reasons(source))}
    assert found == {}, "write Reason.X, not a string: a new code goes into monitor.vocab"


def test_every_reason_is_returned_by_something() -> None:
    named: set[str] = set()
    for source in _sources("probes", "monitor").values():
        named |= named_reasons(source)
    named.discard("__members__")
    unused = sorted(r.name for r in Reason if r.name not in named)
    assert unused == [], "members no probe returns (remove them, or they drift)"


def test_the_fault_rules_and_dashboards_name_reasons() -> None:
    assert FaultRules().unknown_reasons() == []
    assert all(is_reason(code) for rule in DEFAULT_RULES for code in rule.reasons)
    assert set(REASON_TEXT) == set(Reason)


def test_a_rule_naming_no_reason_is_found() -> None:
    rules = FaultRules.model_validate({"rules": [
        {"level": 4, "title_zh": "模糊", "title_en": "blur", "reasons": ["blured"]},
        {"level": 4, "title_zh": "丢包", "title_en": "loss",
         "reasons": ["loss_ratio_high", "blurred", "my_code"]}]})
    assert rules.unknown_reasons(frozenset({"my_code"})) == [
        "fault rule 1 (blur): no result has the reason 'blured'"]


def test_the_collector_finds_each_form() -> None:
    source = '''
ProbeResult(Status.DOWN, "one", "x")
ProbeResult(Status.DOWN, reason="two")
raise GrabError("three", "x")
problems.append((Status.WARNING, "four", "x"))
reading.problem(Status.WARNING, "five", "x")
reason = "six" if x else "seven"
ProbeResult(Status.OK, Reason.AUTH_FAILED)
ProbeResult.down("eight", "x")
class E(SnmpError):
    reason = "nine"
PROBE = ProbeKind(default_thresholds={"x": {"warning": 1, "reason": "ten"}})
'''
    assert sorted(literal_reasons(source)) == sorted(
        ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"])
    assert named_reasons(source) == {"AUTH_FAILED"}
