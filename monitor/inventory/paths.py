"""The ``path`` checks' cameras: which of the inventory's cameras each one watches.

A ``path`` check names its cameras, or takes `per_site` of each site's (spread over the
site's cameras in id order, not the first few); the sample is interleaved by site so
that the runs, taking the next few in turn, visit one site after another.  Resolved
once per inventory, here, into the check's `targets` -- the probe never sees the
inventory -- with every name checked: the password server's device, the cameras, and
each camera's labels the stream's template uses."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from itertools import zip_longest

from monitor.inventory.models import Device, DeviceKind
from probes.base import Target
from probes.path import PathCamera, PathParams


def _spread(cameras: list[Device], most: int) -> list[Device]:
    n = len(cameras)
    return [cameras[k * n // most] for k in range(min(most, n))]


def _sample(params: PathParams, devices: Mapping[str, Device]) -> list[Device]:
    if params.cameras:
        return [devices[c] for c in params.cameras]
    by_site: dict[str, list[Device]] = {}
    for device in sorted(devices.values(), key=lambda d: d.id):
        if device.kind is DeviceKind.CAMERA:
            by_site.setdefault(device.site, []).append(device)
    picked = [_spread(cameras, params.per_site) for _, cameras in sorted(by_site.items())]
    return [d for turn in zip_longest(*picked) for d in turn if d is not None]


def resolve(device: Device, params: PathParams, devices: Mapping[str, Device]
            ) -> tuple[PathParams | None, list[str]]:
    """`params` with its `targets`, or the problems that stop it."""
    problems = []
    login = devices.get(params.login_device)
    if login is None:
        problems.append(f"login_device: unknown device {params.login_device!r}")
    elif login.kind is not DeviceKind.AUTH_SERVER:
        problems.append(f"login_device: {params.login_device!r} is a {login.kind.value}, "
                        "not the auth_server")
    for name in params.cameras:
        if name not in devices:
            problems.append(f"cameras: unknown device {name!r}")
        elif devices[name].kind is not DeviceKind.CAMERA:
            problems.append(f"cameras: {name!r} is a {devices[name].kind.value}, not a camera")
    if problems:
        return None, problems
    sample = _sample(params, devices)
    if not sample:
        return None, ["no cameras to watch: the inventory has none"]
    targets = tuple(PathCamera(id=c.id, site=c.site, address=c.address,
                               labels=dict(c.labels)) for c in sample)
    here = Target(device.id, device.kind.value, device.address)
    for camera in targets:
        try:
            params.url(here, camera, "t")
        except (KeyError, IndexError, AttributeError, ValueError) as exc:
            problems.append(f"stream: the template cannot be filled for camera "
                            f"{camera.id!r}: {type(exc).__name__}: {exc} (a label it lacks?)")
            break
    if problems:
        return None, problems
    return params.model_copy(update={"targets": targets}), []


def resolve_all(devices: dict[str, Device]) -> list[tuple[str, str]]:
    """Fill in every ``path`` check's cameras (replacing the devices that carry one);
    the problems, as (device id, message)."""
    problems = []
    for device in list(devices.values()):
        changed = False
        checks = []
        for check in device.checks:
            if check.kind == "path" and isinstance(check.params, PathParams):
                if check.params.targets:
                    problems.append((device.id, f"check {check.name!r}: targets: set from "
                                                "cameras and per_site; do not write it"))
                    continue
                params, found = resolve(device, check.params, devices)
                problems += [(device.id, f"check {check.name!r}: {p}") for p in found]
                if params is not None:
                    check = dataclasses.replace(check, params=params)
                    changed = True
            checks.append(check)
        if changed:
            devices[device.id] = dataclasses.replace(device, checks=tuple(checks))
    return problems
