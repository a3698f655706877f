"""Load ``inventory.yaml``: parse, validate, merge defaults, cross-check, resolve.

Every problem found is collected -- not just the first -- and reported with the
file, the line and the site or device it concerns.  The YAML loader
(`monitor.inventory.yamlfile`) remembers where each key was written.
"""

from __future__ import annotations

import asyncio
import difflib
import multiprocessing
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml import MarkedYAMLError, YAMLError

from monitor.inventory import paths, yamlfile
from monitor.inventory.checks import check_entry_adapter, split_entry
from monitor.inventory.errors import InventoryError, Problem
from monitor.inventory.models import (
    CheckConfig,
    CheckFields,
    CredentialSpec,
    Device,
    DeviceSpec,
    Inventory,
    InventoryFile,
    Site,
    SiteSpec,
)
from monitor.inventory.secrets import SecretError
from monitor.inventory.yamlfile import LineDict, line_of
from probes.base import Credentials
from probes.registry import PROBES
from probes.thresholds import Threshold

Loc = tuple[str | int, ...]


async def load_apart(path: str | Path) -> Inventory:
    """`load_inventory` in a process of its own (spawned, gone after).

    Parsing and validating 20,000 devices peaks at ~20 times what the result keeps;
    CPython frees that garbage, but the survivors stay scattered over the allocator's
    arenas, so this process's RSS would keep the peak for good (measured: +143 MB
    resident for 10 MB of inventory).  The loaded inventory comes back pickled
    (1.7 MB, 0.2 s for 20,000 devices); an `InventoryError` comes back as itself.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, load_inventory, path)


def load_inventory(path: str | Path, environ: Mapping[str, str] | None = None, *,
                   secrets: bool = True) -> Inventory:
    """The resolved inventory in `path`; `InventoryError` lists every problem.

    `secrets=False` leaves the credentials' secrets unread (None): for a reader that
    only wants the sites, devices and windows (the report), not to reach a device."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError([Problem(path, None, None, f"cannot read: {exc}")]) from exc
    return parse_inventory(text, path, environ, secrets=secrets)


def parse_inventory(text: str, path: Path, environ: Mapping[str, str] | None = None, *,
                    secrets: bool = True) -> Inventory:
    """The inventory written in `text` (as if read from `path`)."""
    try:
        data = yamlfile.load(text)
    except YAMLError as exc:
        line = None
        msg = " ".join(str(getattr(exc, "problem", None) or exc).split())
        if isinstance(exc, MarkedYAMLError):
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            if exc.context and exc.context_mark and exc.problem_mark:
                msg += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise InventoryError([Problem(path, line, None, f"YAML syntax: {msg}")]) from exc
    if data is None:
        data = LineDict()
        data.line, data.key_lines = 1, {}
    if not isinstance(data, LineDict):
        raise InventoryError([Problem(path, 1, None, "the file must be a mapping")])
    return _Loader(path, data, environ, secrets).load()


_line = line_of


def unknown_region(name: str, declared: Sequence[str]) -> str:
    """Why `name` is not a region, with the likely one meant."""
    close = [r for r in declared if r.lower() == name.lower()] or \
        difflib.get_close_matches(name, declared, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (f"region {name!r} is not declared in regions "
            f"({', '.join(declared) or 'none'}){hint}")


def _loc_text(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx") or {}
        return f"unknown check kind {ctx.get('tag')!r} (known: {', '.join(sorted(PROBES))})"
    if kind == "union_tag_not_found":
        return "a check needs a 'kind'"
    msg = err["msg"]
    return msg.removeprefix("Value error, ")


def _short(text: str, most: int = 40) -> str:
    """`text`, cut to `most` characters (a subject in an error, not the whole input)."""
    return text if len(text) <= most else text[:most - 1] + "…"


class _Loader:
    def __init__(self, path: Path, data: LineDict, environ: Mapping[str, str] | None,
                 secrets: bool = True):
        self.path = path
        self.data = data
        self.environ = environ
        self.secrets = secrets
        self.declared: dict[str, set[str]] = {}  # credentials → the secrets it names
        self.problems: list[Problem] = []
        self.configs: dict[tuple[object, ...], CheckConfig] = {}  # distinct checks, shared

    # -- reporting --

    def problem(self, loc: Loc, subject: str | None, message: str) -> None:
        self.problems.append(Problem(self.path, _line(self.data, loc), subject, message))

    def validation_problems(self, exc: ValidationError, base: Loc, subject: str | None,
                            strip_tag: bool = False,
                            origin: Mapping[str, Loc] | None = None, prefix: str = "") -> None:
        for err in exc.errors():
            loc: Loc = tuple(err["loc"])
            if strip_tag and err["type"] not in ("union_tag_invalid", "union_tag_not_found"):
                loc = loc[1:]  # the first element is the union's tag
            where = base
            if origin is not None and loc and isinstance(loc[0], str) and loc[0] in origin:
                where = origin[loc[0]]
            text = _message(err)
            label = _loc_text(loc)
            self.problem(where + loc, subject,
                         prefix + (f"{label}: {text}" if label else text))

    def validate(self, model: type[BaseModel], raw: Any, base: Loc,
                 subject: str | None) -> Any:
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            self.validation_problems(exc, base, subject)
            return None

    # -- the passes --

    def load(self) -> Inventory:
        lists = {}
        for key in ("sites", "devices"):
            raw = self.data.get(key) or []
            if not isinstance(raw, list):
                self.problem((key,), None, f"{key}: must be a list")
                raw = []
            lists[key] = raw
        top = self.validate_top()
        credentials = self.resolve_credentials(top.credentials)
        sites = self.load_sites(lists["sites"])
        self.check_regions(top.regions, sites, lists["sites"])
        default_checks = self.load_default_checks(top)
        devices = self.load_devices(lists["devices"], top, sites, credentials, default_checks)
        index = {item.get("id"): i for i, item in enumerate(lists["devices"])
                 if isinstance(item, Mapping)}
        for device_id, message in paths.resolve_all(devices):
            self.problem(("devices", index.get(device_id, 0), "checks"),
                         f"device {device_id!r}", message)
        for i, window in enumerate(top.maintenance):
            for field, known in (("sites", sites), ("devices", devices)):
                for name in getattr(window, field):
                    if name not in known:
                        self.problem(("maintenance", i, field), f"maintenance {window.id!r}",
                                     f"unknown {field[:-1]} {name!r}")
        customers = self.load_customers(top, sites)
        if self.problems:
            raise InventoryError(self.problems)
        return Inventory(self.path, sites, devices, top.defaults.check, tuple(top.regions),
                         tuple(top.maintenance), tuple(top.major_events), customers,
                         {cid: spec.name or cid for cid, spec in top.customers.items()})

    def load_customers(self, top: InventoryFile, sites: Mapping[str, Site]
                       ) -> dict[str, frozenset[str]]:
        """Each customer account's sites: those it names and those of its regions."""
        covered: dict[str, frozenset[str]] = {}
        for cid, spec in top.customers.items():
            subject = f"customer {cid!r}"
            for i, name in enumerate(spec.sites):
                if name not in sites:
                    self.problem(("customers", cid, "sites", i), subject,
                                 f"unknown site {name!r}")
            for i, name in enumerate(spec.regions):
                if name not in top.regions:
                    self.problem(("customers", cid, "regions", i), subject,
                                 unknown_region(name, top.regions))
            found = {s for s in spec.sites if s in sites}
            found |= {s.id for s in sites.values() if s.region in spec.regions}
            if not spec.sites and not spec.regions:
                self.problem(("customers", cid), subject, "covers no site: give sites or "
                                                          "regions")
            covered[cid] = frozenset(found)
        return covered

    def validate_top(self) -> InventoryFile:
        """Everything but sites and devices; errors name the section they are in."""
        try:
            return InventoryFile.model_validate({**self.data, "sites": [], "devices": []})
        except ValidationError as exc:
            for err in exc.errors():
                loc: Loc = tuple(err["loc"])
                subject, rest = None, loc
                if loc[:1] == ("credentials",) and len(loc) > 1:
                    subject, rest = f"credentials {loc[1]!r}", loc[2:]
                elif loc[:2] == ("defaults", "kinds") and len(loc) > 2:
                    subject, rest = f"defaults for {loc[2]}", loc[3:]
                elif loc[:1] == ("customers",) and len(loc) > 1:
                    subject, rest = f"customer {loc[1]!r}", loc[2:]
                elif loc[0] in ("maintenance", "major_events") and len(loc) > 1:
                    entry = self.data.get(str(loc[0]))
                    item = entry[loc[1]] if isinstance(entry, list) and isinstance(
                        loc[1], int) and loc[1] < len(entry) else None
                    name = item.get("id") or item.get("name") if isinstance(item, dict) else None
                    section = "maintenance" if loc[0] == "maintenance" else "major event"
                    subject = f"{section} " + (repr(name) if name else f"#{int(loc[1]) + 1}")
                    rest = loc[2:]
                label = _loc_text(rest)
                text = _message(err)
                self.problem(loc, subject, f"{label}: {text}" if label else text)
        # Go on with what is valid, so the rest of the file is still checked.
        valid = {}
        for key in ("version", "defaults", "credentials", "regions", "maintenance",
                    "major_events", "customers"):
            if key in self.data:
                try:
                    InventoryFile.model_validate({key: self.data[key]})
                    valid[key] = self.data[key]
                except ValidationError:
                    pass
        return InventoryFile.model_validate(valid)

    def resolve_credentials(self, specs: Mapping[str, CredentialSpec]) -> dict[str, Credentials]:
        resolved = {}
        for name, spec in specs.items():
            values: dict[str, str | None] = {}
            for field in CredentialSpec.SECRETS:
                ref = getattr(spec, field)
                values[field] = None
                if ref is None:
                    continue
                self.declared.setdefault(name, set()).add(field)
                if not self.secrets:
                    continue
                try:
                    values[field] = ref.resolve(self.environ, self.path.parent)
                except SecretError as exc:
                    self.problem(("credentials", name, field), f"credentials {name!r}",
                                 f"{field}: cannot resolve {ref}: {exc}")
            resolved[name] = Credentials(
                spec.username, values["password"], values["community"], spec.snmp_user,
                spec.auth_protocol, values["auth_key"], spec.priv_protocol, values["priv_key"])
        return resolved

    def entries(self, raw: list[Any], kind: str) -> Iterable[tuple[int, Any, str]]:
        seen: dict[str, int] = {}
        for i, item in enumerate(raw):
            ident = item.get("id") if isinstance(item, Mapping) else None
            subject = f"{kind} {_short(ident)!r}" if isinstance(ident, str) \
                else f"{kind} #{i + 1}"
            if isinstance(ident, str):
                if ident in seen:
                    first = _line(self.data, (f"{kind}s", seen[ident]))
                    self.problem((f"{kind}s", i, "id"), subject,
                                 f"duplicate {kind} id (first defined at line {first})")
                    continue
                seen[ident] = i
            yield i, item, subject

    def load_sites(self, raw: list[Any]) -> dict[str, Site]:
        specs: dict[str, tuple[int, SiteSpec]] = {}
        for i, item, subject in self.entries(raw, "site"):
            spec = self.validate(SiteSpec, item, ("sites", i), subject)
            if spec is not None:
                specs[spec.id] = (i, spec)
        for i, spec in specs.values():
            if spec.parent is not None and spec.parent not in specs:
                self.problem(("sites", i, "parent"), f"site {spec.id!r}",
                             f"unknown parent site {spec.parent!r}")
        self.cycles({k: s.parent for k, (_, s) in specs.items()},
                    {k: i for k, (i, _) in specs.items()}, "site")
        return {k: Site(s.id, s.name_zh, s.name_en, s.region, s.role, s.parent, s.labels)
                for k, (_, s) in specs.items()}

    def check_regions(self, declared: Sequence[str], sites: Mapping[str, Site],
                      raw: list[Any]) -> None:
        """Every site's region is declared once, in `regions:` (a typo there would
        otherwise silently give the site the default 24-hour on-site clock)."""
        seen: set[str] = set()
        for i, name in enumerate(declared):
            if name in seen:
                self.problem(("regions", i), None, f"regions: {name!r} is declared twice")
            seen.add(name)
        if sites and not declared:
            self.problem(("sites",), None,
                         "regions: not declared; list the regions the sites are in at the "
                         "top level, e.g. `regions: [" + ", ".join(sorted(
                             {s.region for s in sites.values()})) + "]`")
            return
        index = {item.get("id"): i for i, item in enumerate(raw) if isinstance(item, Mapping)}
        for site in sites.values():
            if site.region not in seen:
                self.problem(("sites", index.get(site.id, 0), "region"), f"site {site.id!r}",
                             unknown_region(site.region, declared))

    def load_default_checks(self, top: InventoryFile) -> dict[str, dict[str, tuple[Loc, Any]]]:
        """Per device kind, the default check entries that are valid on their own."""
        out: dict[str, dict[str, tuple[Loc, Any]]] = {}
        for kind, defaults in top.defaults.kinds.items():
            raw = self.data["defaults"]["kinds"][kind.value]["checks"] if defaults.checks else []
            entries: dict[str, tuple[Loc, Any]] = {}
            for j, entry in enumerate(raw):
                base: Loc = ("defaults", "kinds", kind.value, "checks", j)
                try:
                    model = check_entry_adapter().validate_python(entry)
                except ValidationError as exc:
                    self.validation_problems(exc, base, f"defaults for {kind.value}",
                                             strip_tag=True, prefix=f"check #{j + 1}: ")
                    continue
                name = model.name or model.kind
                if name in entries:
                    self.problem(base, f"defaults for {kind.value}",
                                 f"duplicate check name {name!r}")
                    continue
                entries[name] = (base, entry)
            out[kind.value] = entries
        return out

    def load_devices(self, raw: list[Any], top: InventoryFile, sites: Mapping[str, Site],
                     credentials: Mapping[str, Credentials],
                     default_checks: Mapping[str, Mapping[str, tuple[Loc, Any]]],
                     ) -> dict[str, Device]:
        specs: dict[str, tuple[int, DeviceSpec]] = {}
        for i, item, subject in self.entries(raw, "device"):
            spec = self.validate(DeviceSpec, item, ("devices", i), subject)
            if spec is not None:
                specs[spec.id] = (i, spec)
            elif isinstance(item, Mapping) and isinstance(item.get("checks"), list):
                # Still report what is wrong with its checks.
                kind = item.get("kind")
                self.device_checks(("devices", i), subject, top,
                                   default_checks.get(kind, {}) if isinstance(kind, str) else {})
        devices = {}
        for i, spec in specs.values():
            base: Loc = ("devices", i)
            subject = f"device {spec.id!r}"
            kind_defaults = top.defaults.kinds.get(spec.kind)
            if spec.site not in sites:
                self.problem((*base, "site"), subject, f"unknown site {spec.site!r}")
            if spec.parent is not None and spec.parent not in specs:
                self.problem((*base, "parent"), subject, f"unknown parent device {spec.parent!r}")
            if spec.port is not None and spec.parent is None:
                self.problem((*base, "port"), subject,
                             "port: names a port of the parent switch, and there is no parent")
            cred_name = spec.credentials or (kind_defaults.credentials if kind_defaults else None)
            creds = Credentials()
            if cred_name is not None:
                if cred_name in credentials:
                    creds = credentials[cred_name]
                else:
                    where = (*base, "credentials") if spec.credentials else \
                        ("defaults", "kinds", spec.kind.value, "credentials")
                    self.problem(where, subject, f"unknown credentials {cred_name!r}")
            checks = self.device_checks(base, subject, top,
                                        default_checks.get(spec.kind.value, {}))
            for check in checks:
                need = PROBES[check.kind].required_credentials
                # (a secret named but unreadable is its own problem, reported above)
                missing = [f for f in (need(check.params) if need else ())
                           if not getattr(creds, f)
                           and f not in self.declared.get(cred_name or "", ())]
                if missing:
                    self.problem(base, subject, f"check {check.name!r} needs credentials with "
                                                f"{' and '.join(missing)}")
            labels = {**(kind_defaults.labels if kind_defaults else {}), **spec.labels}
            devices[spec.id] = Device(spec.id, spec.name, spec.kind, spec.site, spec.address,
                                      spec.parent, creds, tuple(checks), labels, spec.mac,
                                      spec.port)
        self.cycles({k: s.parent for k, (_, s) in specs.items()},
                    {k: i for k, (i, _) in specs.items()}, "device")
        return devices

    def device_checks(self, base: Loc, subject: str, top: InventoryFile,
                      defaults: Mapping[str, tuple[Loc, Any]]) -> list[CheckConfig]:
        own: dict[str, tuple[Loc, Any]] = {}
        raw_checks = self.data["devices"][base[1]].get("checks") or []
        for j, entry in enumerate(raw_checks):
            name = entry.get("name") or entry.get("kind") if isinstance(entry, Mapping) else None
            loc = (*base, "checks", j)
            if isinstance(name, str) and name in own:
                self.problem(loc, subject, f"duplicate check name {name!r}")
                continue
            own[name if isinstance(name, str) else f"#{j + 1}"] = (loc, entry)
        checks = []
        for name in list(defaults) + [n for n in own if n not in defaults]:
            sources = [s for s in (defaults.get(name), own.get(name)) if s is not None]
            entry_loc = sources[-1][0]
            if not all(isinstance(entry, Mapping) for _, entry in sources):
                self.problem(entry_loc, subject, "a check must be a mapping")
                continue
            merged: dict[str, Any] = {}
            origin: dict[str, Loc] = {}
            for loc, entry in sources:
                merged.update(entry)
                origin.update({k: loc for k in entry})
            try:
                model = check_entry_adapter().validate_python(merged)
            except ValidationError as exc:
                self.validation_problems(exc, entry_loc, subject, strip_tag=True,
                                         origin=origin, prefix=f"check {name!r}: ")
                continue
            config = self.check_config(model, entry_loc, origin, subject, top)
            if config is not None:
                checks.append(config)
        return checks

    def check_config(self, model: CheckFields, loc: Loc, origin: Mapping[str, Loc],
                     subject: str, top: InventoryFile) -> CheckConfig | None:
        common, params = split_entry(model)
        if not common["enabled"]:
            return None
        probe = PROBES[common["kind"]]
        name = common["name"] or common["kind"]
        interval = common["interval"] or probe.default_interval_s
        timeout = common["timeout"] or probe.default_timeout_s
        if interval < timeout:
            where = origin.get("interval") or origin.get("timeout") or loc
            key = "interval" if "interval" in origin else "timeout"
            self.problem((*where, key), subject,
                         f"check {name!r}: interval {interval:g}s is shorter than "
                         f"timeout {timeout:g}s")
            return None
        thresholds = {k: Threshold.model_validate(v)
                      for k, v in probe.default_thresholds.items()}
        thresholds.update(common["thresholds"])
        d = top.defaults.check
        config = CheckConfig(
            name=name, kind=probe.name, interval_s=interval, timeout_s=timeout,
            fail_after=common["fail_after"] or d.fail_after,
            recover_after=common["recover_after"] or d.recover_after,
            flap_window_s=d.flap_window, flap_changes=d.flap_changes,
            params=probe.params.model_validate(params), thresholds=thresholds,
        )
        # Most devices of a kind carry the same checks (the address is the device's):
        # one shared, frozen config for each distinct one (20,000 switches: 2, not
        # 20,000 -- each is a dozen objects).
        shared = (config.name, config.kind, config.interval_s, config.timeout_s,
                  config.fail_after, config.recover_after, config.flap_window_s,
                  config.flap_changes, config.params.model_dump_json(),
                  tuple((k, v.model_dump_json()) for k, v in sorted(config.thresholds.items())))
        return self.configs.setdefault(shared, config)

    def cycles(self, parents: Mapping[str, str | None], index: Mapping[str, int],
               kind: str) -> None:
        done: set[str] = set()
        for start in parents:
            path: list[str] = []
            on_path: set[str] = set()
            node: str | None = start
            while node is not None and node in parents and node not in done:
                if node in on_path:
                    cycle = [*path[path.index(node):], node]
                    self.problem((f"{kind}s", index[node], "parent"), f"{kind} {node!r}",
                                 "parent cycle: " + " → ".join(cycle))
                    break
                path.append(node)
                on_path.add(node)
                node = parents[node]
            done.update(path)
