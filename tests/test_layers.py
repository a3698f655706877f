"""The layers, as the imports draw them (every import, lazy ones inside functions too):

* `probes` speak protocols: of the core they use the shared vocabulary alone
  (`monitor.vocab`);
* the core (`monitor` less the composition root, `daemon.py`, `endpoints.py` and
  `wiring.py`) imports
  neither `alerts` nor `exporters`: they read what it publishes;
* the readers (`alerts`, `exporters`) do not import `probes`;
* `monitor.vocab` is a leaf.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = frozenset({"monitor/daemon.py", "monitor/endpoints.py", "monitor/wiring.py"})


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _violations(package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = (),
                skip: frozenset[str] = frozenset()) -> list[str]:
    out = []
    for path in sorted((REPO / package).rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in skip:
            continue
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in forbidden and not any(module == a or module.startswith(a + ".")
                                             for a in allowed):
                out.append(f"{rel}:{line}: imports {module}")
    return out


def test_the_core_does_not_import_the_readers() -> None:
    assert _violations("monitor", ("alerts", "exporters"), skip=ROOT) == []


def test_the_readers_do_not_import_the_probes() -> None:
    assert _violations("alerts", ("probes",)) == []
    assert _violations("exporters", ("probes",)) == []


def test_the_probes_use_only_the_cores_vocabulary() -> None:
    assert _violations("probes", ("monitor", "alerts", "exporters"),
                       allowed=("monitor.vocab",)) == []


def test_the_vocabulary_is_a_leaf() -> None:
    found = [m for _, m in _imports(REPO / "monitor" / "vocab.py")
             if m.split(".")[0] in ("monitor", "probes", "alerts", "exporters")]
    assert found == []


def test_the_reader_finds_lazy_imports(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from alerts.roster import Roster\n    import exporters\n")
    assert [m for _, m in _imports(sample)] == ["alerts.roster", "exporters"]


def test_the_video_libraries_load_only_when_a_video_check_runs() -> None:
    """PyAV and numpy (~20 MB) are not loaded by starting the daemon: a poller of
    switches never pays for them (probes.lazy)."""
    import subprocess
    import sys
    code = ("import sys, monitor.daemon, monitor.cli\n"
            "loaded = [m for m in ('numpy', 'av') if m in sys.modules\n"
            "          and type(sys.modules[m]).__name__ != '_LazyModule']\n"
            "print(loaded)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout
