"""What a check learns (a camera's normal picture) lives with its state: handed to its
next runs, stored, kept across a restart, and forgotten by ``monitor baseline reset``
-- with a real GStreamer RTSP camera, the store on SQLite and PostgreSQL, and the CLI
as a separate process (as an operator runs it next to the daemon)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from monitor.core import Monitor, job_specs
from monitor.events import CheckKey, EventBus
from monitor.inventory.models import CheckConfig, Device, DeviceKind, Inventory, Site, SiteRole
from monitor.scheduler import JobSpec
from monitor.store.store import Store
from monitor.vocab import Status
from probes.base import Credentials
from probes.clients import SharedClients
from probes.result import ProbeResult
from probes.video.probe import VideoParams
from tests.rtsp_peer import RtspServer

KEY = CheckKey("qd-cam01", "video")


def _inventory(url: str) -> Inventory:
    check = CheckConfig("video", "video", 600.0, 15.0, 1, 1, 1800.0, 6,
                        VideoParams(url=url, spacing=0.5), {})
    return Inventory(
        path=Path("x.yaml"),
        sites={"qd": Site("qd", "青岛", "Qingdao", "qingdao", SiteRole.MONITORING_ROOM, None,
                          {})},
        devices={"qd-cam01": Device("qd-cam01", "大门", DeviceKind.CAMERA, "qd", "127.0.0.1",
                                    None, Credentials(), (check,), {})})


async def _sample(monitor: Monitor, spec: JobSpec) -> ProbeResult:
    result = await monitor.scheduler.execute(spec)
    await monitor._on_result(spec, result)
    return result


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"MONITOR_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    return subprocess.run([sys.executable, "-m", "monitor", *args], env=env, text=True,
                          capture_output=True, timeout=60, check=False)


async def test_the_baseline_is_learned_kept_across_a_restart_and_reset(
        store_url: str, rtsp_server: RtspServer, tmp_path: Path) -> None:
    inv = _inventory(rtsp_server.url("osd-live-640x360"))
    (spec,) = job_specs(inv)
    store = await Store.open(store_url)
    clients = SharedClients()
    try:
        first = Monitor(store, EventBus(), clients)
        await first.restore()
        await first.apply(inv)
        said = []
        for _ in range(8):  # four healthy samples (a ready baseline -- from the third --
            r = await _sample(first, spec)  # learns only from healthy ones: on a loaded
            if r.status is Status.OK:       # machine a grab may catch a frame at fault)
                said.append((r.values["baseline_samples"], "learning" in r.detail))
            else:
                assert len(said) >= 2 and r.status is Status.WARNING, r.detail
            if len(said) == 4:
                break
        assert said == [(1, True), (2, True), (3, False), (4, False)]
        await first.flush()

        second = Monitor(store, EventBus(), clients)  # the daemon restarted
        await second.restore()
        await second.apply(inv)
        assert second.machines[KEY].learned["day"]["samples"] == 4
        # The next healthy sample continues the count (a ready baseline learns only from
        # healthy ones: on a loaded machine a grab may catch a frame it finds at fault).
        for _ in range(3):
            r = await _sample(second, spec)
            if r.status is Status.OK:
                break
        assert r.values["baseline_samples"] == 5, (r.status, r.reason, r.detail)

        if store_url.startswith("sqlite"):  # (the CLI's own store: the sqlite file)
            db = Path(store_url.split("///", 1)[1])
            await second.flush()
            shown = _cli(db, "baseline", "show")
            assert shown.returncode == 0, shown.stderr
            assert "qd-cam01" in shown.stdout and " day " in shown.stdout
            wrong = _cli(db, "baseline", "reset", "--device", "qd-cam99")
            assert wrong.returncode == 1 and "no check qd-cam99" in wrong.stderr
            done = _cli(db, "baseline", "reset", "--device", "qd-cam01")
            assert done.returncode == 0, done.stderr
        else:
            await store.request_forget("qd-cam01", None, datetime.now(UTC))
        await second.flush()  # the daemon takes the request
        assert second.machines[KEY].learned == {}
        assert (await store.states("qd-cam01"))[0].snapshot.learned == {}
        r = await _sample(second, spec)
        assert r.values["baseline_samples"] == 1 and "learning" in r.detail
    finally:
        await clients.close()
        await store.close()


async def test_a_request_made_while_the_daemon_was_down_is_taken_at_its_start(
        tmp_path: Path, rtsp_server: RtspServer) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'monitor.db'}"
    inv = _inventory(rtsp_server.url("osd-live-640x360"))
    (spec,) = job_specs(inv)
    store = await Store.open(url)
    clients = SharedClients()
    try:
        first = Monitor(store, EventBus(), clients)
        await first.apply(inv)
        await _sample(first, spec)
        await first.flush()
        await store.request_forget("qd-cam01", "video", datetime.now(UTC))
        second = Monitor(store, EventBus(), clients)
        await second.restore()
        await second.apply(inv)
        assert second.machines[KEY].learned == {}
        assert second.machines[KEY].last_result is not None  # (the rest of the state kept)
    finally:
        await clients.close()
        await store.close()


async def test_a_run_in_flight_when_forgotten_does_not_bring_the_old_baseline_back(
        tmp_path: Path) -> None:
    """The reset arrives while a sample is being judged against the old baseline: that
    run's learning is dropped, not stored over the reset."""
    inv = _inventory("rtsp://127.0.0.1:9/none")
    (spec,) = job_specs(inv)
    monitor = Monitor(None, EventBus(), SharedClients())
    await monitor.apply(inv)
    old = {"day": {"samples": 9, "luma": 100.0, "sharpness": 0.8, "occlusion": 0.1}}
    monitor.machines[KEY].learned = old
    monitor._learning[KEY] = old  # what probe() records when it hands it to a run
    assert monitor.forget_learned("qd-cam01") == [KEY]
    stale = {"day": {**old["day"], "samples": 10}}
    await monitor._on_result(spec, ProbeResult(Status.OK, learned=stale))
    assert monitor.machines[KEY].learned == {}
    # the next run, given the empty one, learns again
    monitor._learning[KEY] = monitor.machines[KEY].learned
    fresh = {"day": {**old["day"], "samples": 1}}
    await monitor._on_result(spec, ProbeResult(Status.OK, learned=fresh))
    assert monitor.machines[KEY].learned == fresh
