"""The ``path`` check against real peers: a password-verification server handing out
tokens and a proxy-forwarding server that asks it about each token before relaying a
camera's stream from GStreamer's RTSP server (`demo/peers/viewing.py`).  Each step
fails in turn; the result names the step, the reason and the device to blame -- and
the fault engine files the fault on that device, at its level."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from demo.peers.viewing import FlvProxy, LineLogin, PasswordServer, Proxy
from monitor.events import CheckKey, EventBus
from monitor.faults.engine import CheckHealth, FaultEngine
from monitor.faults.levels import FaultLevel
from monitor.inventory import Inventory, InventoryError, load_inventory
from monitor.state import CheckState
from monitor.store.store import Store
from monitor.tickets.store import TicketStore
from monitor.vocab import Status
from probes.base import ProbeContext, Target
from probes.clients import SharedClients
from probes.path import PROBE, PathParams
from probes.result import ProbeResult
from tests.conftest import free_port
from tests.rtsp_peer import RtspServer

MOUNTS = {"qd-cam01": "live", "qd-cam02": "live", "qd-cam03": "black", "yt-cam01": "live",
          "yt-cam02": "nosuch"}


def inventory_yaml(auth_port: int, proxy_port: int, check: str = "") -> str:
    check = check or "cameras: [qd-cam01]"
    lines = [
        "regions: [jinan, qingdao, yantai]",
        "sites:",
        "  - {id: jn, name_zh: 省局监控中心, name_en: Centre, region: jinan,",
        "     role: provincial_centre}",
        "  - {id: qd, name_zh: 青岛, name_en: Qingdao, region: qingdao, role: sub_centre}",
        "  - {id: yt, name_zh: 烟台, name_en: Yantai, region: yantai, role: monitoring_room}",
        "credentials:",
        "  viewer: {username: viewer, password: 'env:VIEWER_PW'}",
        "devices:",
        "  - {id: jn-auth, name: 密码验证服务器, kind: auth_server, site: jn, address: 127.0.0.1}",
        "  - id: jn-proxy",
        "    name: 视频代理转发服务器",
        "    kind: proxy_server",
        "    site: jn",
        "    address: 127.0.0.1",
        "    credentials: viewer",
        "    checks:",
        "      - kind: path",
        "        login_device: jn-auth",
        f"        login: {{url: 'http://127.0.0.1:{auth_port}/api/login', "
        "token: {json: data.token}}",
        f"        stream: 'rtsp://{{address}}:{proxy_port}/{{labels[mount]}}?token={{token}}'",
        "        frames: 2",
        f"        {check}",
    ]
    for camera, mount in MOUNTS.items():
        lines.append(f"  - {{id: {camera}, name: 摄像机 {camera}, kind: camera, "
                     f"site: {camera[:2]}, address: 127.0.0.1, labels: {{mount: {mount}}}}}")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class Path_:
    auth: PasswordServer
    proxy: Proxy
    folder: Path
    clients: SharedClients

    def inventory(self, check: str = "") -> Inventory:
        path = self.folder / "inventory.yaml"
        path.write_text(inventory_yaml(self.auth.port, self.proxy.port, check))
        return load_inventory(path, environ={"VIEWER_PW": "viewer-pw"})

    async def run(self, inv: Inventory | None = None,
                  learned: dict[str, Any] | None = None) -> ProbeResult:
        inv = inv or self.inventory()
        proxy = inv.devices["jn-proxy"]
        (check,) = proxy.checks
        assert isinstance(check.params, PathParams)
        target = Target(proxy.id, proxy.kind.value, proxy.address, proxy.credentials)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(25):
            return await PROBE.run(target, check.params, ProbeContext(
                loop.time() + 20, self.clients, learned=learned or {}))


@pytest.fixture
async def site(tmp_path: Path, rtsp_server: RtspServer,
               clients: SharedClients) -> AsyncIterator[Path_]:
    auth = PasswordServer(free_port())
    await auth.start()
    proxy = Proxy(free_port(), ("127.0.0.1", rtsp_server.port),
                  f"http://127.0.0.1:{auth.port}/api/verify")
    await proxy.start()
    try:
        yield Path_(auth, proxy, tmp_path, clients)
    finally:
        await proxy.stop()
        await auth.stop()


def blame(result: ProbeResult) -> tuple[str, str]:
    return str(result.values.get("step")), str(result.values.get("blame"))


async def test_the_whole_path_works(site: Path_) -> None:
    result = await site.run()
    assert result.status is Status.OK, result
    assert "watched qd-cam01 through the proxy" in result.detail
    assert site.auth.logins == 1 and site.proxy.refused == 0
    assert blame(result) == ("", "")


async def test_the_login_refused_is_the_password_servers(site: Path_) -> None:
    site.auth.mode = "refuse"
    result = await site.run()
    assert (result.status, result.reason) == (Status.DOWN, "login_failed"), result
    assert blame(result) == ("login", "jn-auth")
    assert "step 1, login at jn-auth" in result.detail and "HTTP 401" in result.detail
    assert "用户名或密码错误" in result.detail  # what the server said


async def test_a_login_without_a_token_is_the_password_servers(site: Path_) -> None:
    site.auth.mode = "no_token"
    result = await site.run()
    assert (result.reason, blame(result)) == ("no_token", ("login", "jn-auth")), result
    assert "(JSON data.token)" in result.detail


async def test_the_password_server_down_is_its_own(site: Path_) -> None:
    await site.auth.stop()
    result = await site.run()
    assert (result.reason, blame(result)) == ("refused", ("login", "jn-auth")), result


async def test_the_token_from_a_cookie_or_a_header_or_a_regex(site: Path_) -> None:
    for rule in ("{cookie: SESSION}", "{regex: '\"token\": \"(\\w+)\"'}"):
        inv = site.inventory("cameras: [qd-cam01]").path
        text = inv.read_text().replace("{json: data.token}", rule)
        inv.write_text(text)
        result = await site.run(load_inventory(inv, environ={"VIEWER_PW": "viewer-pw"}))
        assert result.status is Status.OK, (rule, result)
    inv = site.inventory().path
    inv.write_text(inv.read_text().replace("{json: data.token}", "{header: X-Token}"))
    result = await site.run(load_inventory(inv, environ={"VIEWER_PW": "viewer-pw"}))
    assert (result.reason, blame(result)) == ("no_token", ("login", "jn-auth"))
    assert "(header X-Token)" in result.detail


async def test_the_proxy_down_is_the_proxys(site: Path_) -> None:
    await site.proxy.stop()
    result = await site.run()
    assert (result.reason, blame(result)) == ("refused", ("stream", "")), result
    assert "step 2, stream through the proxy (the proxy fails)" in result.detail
    assert "token=…" in result.detail  # the token is not written into results


async def test_the_proxy_refusing_the_token_is_the_proxys(site: Path_) -> None:
    site.auth.tokens.clear()
    site.auth.mode = "good"
    original = site.auth._verify

    async def forgetful(request: Any) -> Any:
        site.auth.tokens.clear()  # every token expires at once
        return await original(request)
    site.auth._verify = forgetful  # type: ignore[method-assign]
    await site.auth.stop()
    await site.auth.start()
    result = await site.run()
    assert (result.reason, blame(result)) == ("auth_failed", ("stream", "")), result
    assert site.proxy.refused == 2  # the grab, and our DESCRIBE asking why (FFmpeg's 401)


async def test_a_black_camera_is_the_cameras(site: Path_) -> None:
    result = await site.run(site.inventory("cameras: [qd-cam03]"))
    assert result.status is Status.DOWN, result
    assert result.reason in ("black_screen", "signal_loss"), result
    assert blame(result) == ("picture", "qd-cam03")
    assert result.detail.startswith("step 3, the picture: qd-cam03: ")


async def test_a_stream_the_proxy_does_not_have_is_the_cameras(site: Path_) -> None:
    result = await site.run(site.inventory("cameras: [yt-cam02]"))
    assert (result.reason, blame(result)) == ("not_found", ("stream", "yt-cam02")), result


async def test_every_camera_failing_is_the_proxys(site: Path_) -> None:
    result = await site.run(site.inventory("cameras: [qd-cam03, yt-cam02]"))  # 2 per run
    assert blame(result) == ("stream", ""), result
    assert "all 2 cameras watched fail through the proxy" in result.detail


async def test_the_sample_is_spread_and_taken_in_turn(site: Path_) -> None:
    """Per site, one camera of each (spread over the site's); one per run, in turn; a
    camera that failed is watched again at every run until it passes."""
    inv = site.inventory("per_site: 2\n        per_run: 1")
    (check,) = inv.devices["jn-proxy"].checks
    assert isinstance(check.params, PathParams)
    # qd: cam01, cam02, cam03 → 2 of them, spread (01, 02); yt: both; interleaved by site
    assert [c.id for c in check.params.targets] == ["qd-cam01", "yt-cam01", "qd-cam02",
                                                    "yt-cam02"]
    watched = []
    learned: dict[str, Any] = {}
    for _ in range(5):
        result = await site.run(inv, learned)
        assert result.learned is not None
        learned = dict(result.learned)
        watched.append(result.detail)
    assert "watched qd-cam01" in watched[0] and "watched yt-cam01" in watched[1]
    assert "watched qd-cam02" in watched[2]
    assert watched[3].startswith("step 2, the camera's stream: yt-cam02")
    # yt-cam02 failed: watched again (first), with the next in turn (qd-cam01)
    assert watched[4].startswith("step 2, the camera's stream: yt-cam02"), watched[4]
    assert learned["failing"] == {"yt-cam02": "not_found"}


async def test_a_line_protocol_login(site: Path_) -> None:
    """The password server's line protocol: ``LOGIN user password`` → ``OK token=…``."""
    line = LineLogin(free_port(), site.auth)
    await line.start()
    try:
        inv = site.inventory().path
        inv.write_text(inv.read_text().replace(
            f"{{url: 'http://127.0.0.1:{site.auth.port}/api/login', token: {{json: data.token}}}}",
            f"{{url: 'tcp://127.0.0.1:{line.port}', send: 'LOGIN {{username}} {{password}}\\r\\n',"
            " token: {regex: 'token=(\\w+)'}}"))
        result = await site.run(load_inventory(inv, environ={"VIEWER_PW": "viewer-pw"}))
        assert result.status is Status.OK, result
        site.auth.mode = "refuse"
        result = await site.run(load_inventory(inv, environ={"VIEWER_PW": "viewer-pw"}))
        assert (result.reason, blame(result)) == ("login_failed", ("login", "jn-auth")), result
        assert "ERR 用户名或密码错误" in result.detail
    finally:
        await line.stop()


async def test_http_flv_through_the_proxy(site: Path_) -> None:
    """A proxy that serves HTTP-FLV: the same three steps over HTTP (a 403 to the token
    is the proxy's)."""
    flv_proxy = FlvProxy(free_port(), f"http://127.0.0.1:{site.auth.port}/api/verify")
    await flv_proxy.start()
    try:
        def over_http(check: str) -> Inventory:
            inv = site.inventory(check).path
            text = inv.read_text()
            start = text.index("        stream: ")
            end = text.index("\n", start)
            inv.write_text(text[:start] + f"        stream: 'http://{{address}}:{flv_proxy.port}"
                           "/flv/{labels[mount]}.flv?token={token}'" + text[end:])
            return load_inventory(inv, environ={"VIEWER_PW": "viewer-pw"})

        result = await site.run(over_http("cameras: [qd-cam01]"))
        assert result.status is Status.OK, result
        result = await site.run(over_http("cameras: [qd-cam03]"))
        assert result.reason in ("black_screen", "signal_loss"), result
        assert blame(result) == ("picture", "qd-cam03")
        site.auth.tokens.clear()
        original = site.auth._verify

        async def forgetful(request: Any) -> Any:
            site.auth.tokens.clear()
            return await original(request)
        site.auth._verify = forgetful  # type: ignore[method-assign]
        await site.auth.stop()
        await site.auth.start()
        result = await site.run(over_http("cameras: [qd-cam01]"))
        assert (result.reason, blame(result)) == ("auth_failed", ("stream", "")), result
    finally:
        await flv_proxy.stop()


# -- the inventory's mistakes --

@pytest.mark.parametrize(("check", "message"), [
    ("cameras: [nobody]", "cameras: unknown device 'nobody'"),
    ("cameras: [jn-auth]", "cameras: 'jn-auth' is a auth_server, not a camera"),
    ("targets: [{id: x, site: jn, address: 127.0.0.1}]", "targets: set from cameras"),
])
async def test_bad_path_checks_are_named(site: Path_, check: str, message: str) -> None:
    with pytest.raises(InventoryError) as caught:
        site.inventory(check)
    text = str(caught.value)
    assert "inventory.yaml:" in text and "device 'jn-proxy'" in text and message in text, text


async def test_a_template_needing_a_label_a_camera_lacks(site: Path_) -> None:
    path = site.folder / "inventory.yaml"
    path.write_text(inventory_yaml(site.auth.port, site.proxy.port, "per_site: 1")
                    .replace("{labels[mount]}", "{labels[gb_id]}"))
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, environ={"VIEWER_PW": "x"})
    assert "the template cannot be filled for camera 'qd-cam01'" in str(caught.value)


@pytest.mark.parametrize(("stream", "message"), [
    ("rtsp://{address}/live", "must carry {token}"),
    ("rtsp://{address}/{cam}?t={token}", "unknown field 'cam'"),
    ("ftp://{address}/?t={token}", "an rtsp://, rtsps://, http:// or https:// URL"),
])
async def test_bad_templates(site: Path_, stream: str, message: str) -> None:
    path = site.folder / "inventory.yaml"
    text = inventory_yaml(site.auth.port, site.proxy.port)
    start = text.index("        stream: ")
    end = text.index("\n", start)
    path.write_text(text[:start] + f"        stream: '{stream}'" + text[end:])
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, environ={"VIEWER_PW": "x"})
    assert message in str(caught.value), str(caught.value)


# -- the faults: each step's on the device it blames, at its level --

async def test_each_step_is_filed_on_the_device_it_blames(site: Path_, tmp_path: Path) -> None:
    inv = site.inventory("cameras: [qd-cam03]")
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        engine = FaultEngine(TicketStore(store), EventBus(), language="en")
        engine.use_inventory(inv)
        await engine.restore()
        key = CheckKey("jn-proxy", "path")
        seen = {}
        for step in ("login", "token", "proxy", "camera"):
            if step == "login":
                site.auth.mode = "refuse"
            elif step == "token":
                site.auth.mode = "no_token"
            elif step == "proxy":
                site.auth.mode = "good"
                await site.proxy.stop()
            else:
                await site.proxy.start()
            result = await site.run(inv)
            engine.replace_checks({key: CheckHealth.of(CheckState.DOWN, result, "path")})
            faults = engine.faults(dt.datetime(2026, 12, 7, 2, tzinfo=dt.UTC).timestamp())
            (fault,) = faults.values()
            seen[step] = (fault.device_id, int(fault.level), fault.title.split(":")[0])
        assert seen == {
            "login": ("jn-auth", FaultLevel.CRITICAL, "password server refuses logins"),
            "token": ("jn-auth", FaultLevel.CRITICAL,
                      "password server hands out no session token"),
            "proxy": ("jn-proxy", FaultLevel.CRITICAL, "proxy-forwarding server down"),
            "camera": ("qd-cam03", FaultLevel.MINOR, "camera without video"),
        }
    finally:
        await store.close()
