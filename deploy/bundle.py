"""``make bundle``: the offline installation bundle for the bureau's server.

    python deploy/bundle.py --wheelhouse .wheelhouse --out dist/

builds ``sv-monitor-<version>-<python>-<arch>.tar.gz`` holding:

* ``wheelhouse/``: this project's wheel and every dependency's wheel for this Python
  and platform -- taken from `--wheelhouse` (``make wheelhouse`` fills it from the
  package registry, pinned to the versions the tests ran with), never from the network;
* ``sv-monitor.service`` (the systemd unit), ``examples/`` (inventory with
  ``credential:`` secrets, settings, roster, holidays), ``install.sh``, ``VERSION`` and
  ``INSTALL.txt``.

The target needs the same Python (its ``cp3XY`` tag) and architecture: Debian 12's own
Python 3.11 on amd64 for a bundle built here.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"


def version(source: Path = REPO) -> str:
    """The project's version, from pyproject.toml."""
    return str(tomllib.loads((source / "pyproject.toml").read_text())["project"]["version"])


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def example_inventory(source: Path) -> str:
    """The shipped inventory with its ``env:SV_X`` secrets as systemd credentials
    (``credential:x``): the service reads them from /etc/monitor/secrets/."""
    text = (source / "inventory.yaml").read_text(encoding="utf-8")
    return re.sub(r"env:SV_([A-Z0-9_]+)",
                  lambda m: "credential:" + m.group(1).lower().replace("_", "-"), text)


def build(wheelhouse: Path, out: Path, source: Path = REPO) -> Path:
    """Build the bundle from `source` (a checkout) with dependencies from `wheelhouse`;
    its path.  Uses no network (``pip --no-index``)."""
    name = f"sv-monitor-{version(source)}-{python_tag()}-{platform.machine()}"
    env = os.environ | {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / name
        wheels = root / "wheelhouse"
        wheels.mkdir(parents=True)
        # this project's wheel (the build backend as installed here: no download)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--no-build-isolation", "--wheel-dir", str(wheels), str(source)],
                       check=True, env=env, cwd=tmp)
        (project,) = wheels.glob("sv_monitor-*.whl")
        # every dependency, resolved from the wheelhouse alone
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-index",
                        "--find-links", str(wheelhouse), "--find-links", str(wheels),
                        "--only-binary", ":all:", "--dest", str(wheels), str(project)],
                       check=True, env=env, cwd=tmp)
        shutil.copy(source / "systemd" / "sv-monitor.service", root)
        shutil.copy(DEPLOY / "install.sh", root)
        (root / "install.sh").chmod(0o755)
        examples = root / "examples"
        shutil.copytree(DEPLOY / "examples", examples)
        (examples / "inventory.yaml").write_text(example_inventory(source), encoding="utf-8")
        shutil.copy(source / "monitor" / "tickets" / "holidays.example.yaml",
                    examples / "holidays.yaml")
        (root / "VERSION").write_text(f"{version(source)}\n{python_tag()}\n"
                                      f"{platform.machine()}\n")
        shutil.copy(DEPLOY / "INSTALL.txt", root)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            tar.add(root, arcname=name)
    return path


def fill_wheelhouse(wheelhouse: Path, source: Path = REPO) -> None:
    """Wheels of every runtime dependency, at the versions installed here (the ones the
    tests ran with), into `wheelhouse` -- the one step that needs the package registry
    (``make wheelhouse``; pip's cache makes it cheap after ``make test``'s install)."""
    deps = tomllib.loads((source / "pyproject.toml").read_text())["project"]["dependencies"]
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            check=True, capture_output=True, text=True).stdout
    wheelhouse.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as pins:
        pins.write(frozen)
        pins.flush()
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet",
                        "--disable-pip-version-check", "--wheel-dir", str(wheelhouse),
                        "--constraint", pins.name, *deps], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheelhouse", type=Path, default=REPO / ".wheelhouse",
                        help="the dependencies' wheels (make wheelhouse)")
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    parser.add_argument("--source", type=Path, default=REPO, help="the checkout to build")
    parser.add_argument("--fill-wheelhouse", action="store_true",
                        help="download the dependencies' wheels into --wheelhouse, and stop")
    args = parser.parse_args()
    if args.fill_wheelhouse:
        fill_wheelhouse(args.wheelhouse, args.source)
        return 0
    if not args.wheelhouse.is_dir():
        print(f"bundle: no wheelhouse at {args.wheelhouse}: run `make wheelhouse` first "
              "(it downloads the dependencies' wheels once)", file=sys.stderr)
        return 1
    print(build(args.wheelhouse, args.out, args.source))
    return 0


if __name__ == "__main__":
    sys.exit(main())
