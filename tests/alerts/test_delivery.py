"""Delivery through real peers on loopback: an SMTP server (aiosmtpd) that goes away and
comes back, HTTP receivers standing for the SMS gateway and the WeCom, DingTalk and
Feishu robots (signatures checked as the vendors document them), gammu-smsd's outbox,
a storm of 200 faults, and the acknowledge page behind the links."""

from __future__ import annotations

import base64
import datetime as dt
import email
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from alerts.channels.email import EmailChannel
from alerts.channels.robots import RobotChannel
from alerts.channels.sms import GammuSmsChannel, HttpSmsChannel
from alerts.links import make_token
from alerts.notifier import Notifier
from alerts.outbox import Item, Outbox
from alerts.roster import load_roster
from alerts.sender import Sender
from alerts.web import routes
from monitor.faults.levels import FaultLevel
from monitor.store.store import Store
from monitor.tickets.sla import SlaPolicy
from monitor.tickets.store import FaultTicket, TicketStore
from tests.conftest import free_port

pytestmark = pytest.mark.peers
HERE = Path(__file__).parent
CST = dt.timezone(dt.timedelta(hours=8))
NIGHT = dt.datetime(2026, 12, 4, 22, 0, tzinfo=CST)  # li holds the phone
DING_SECRET, FEISHU_SECRET = "SECdingtalk-test-secret", "feishu-test-secret"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    yield s
    await s.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class Receivers:
    """The SMS gateway and the robots, as HTTP endpoints that check what they get."""

    def __init__(self) -> None:
        self.got: dict[str, list[Any]] = {"sms": [], "wecom": [], "dingtalk": [], "feishu": []}

    def app(self) -> web.Application:
        async def sms(request: web.Request) -> web.Response:
            self.got["sms"].append(await request.json())
            return web.json_response({"code": 0, "msg": "queued"})

        async def wecom(request: web.Request) -> web.Response:
            self.got["wecom"].append(await request.json())
            return web.json_response({"errcode": 0, "errmsg": "ok"})

        async def dingtalk(request: web.Request) -> web.Response:
            ts = request.query["timestamp"]
            mac = hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(), hashlib.sha256)
            if unquote_plus(request.query_string.split("sign=")[1]) != \
                    base64.b64encode(mac.digest()).decode():
                return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
            self.got["dingtalk"].append(await request.json())
            return web.json_response({"errcode": 0, "errmsg": "ok"})

        async def feishu(request: web.Request) -> web.Response:
            body = await request.json()
            mac = hmac.new(f"{body['timestamp']}\n{FEISHU_SECRET}".encode(), b"",
                           hashlib.sha256)
            if body["sign"] != base64.b64encode(mac.digest()).decode():
                return web.json_response({"code": 19021, "msg": "sign match fail"})
            self.got["feishu"].append(body)
            return web.json_response({"code": 0, "msg": "success"})

        app = web.Application()
        app.router.add_post("/sms/send", sms)
        app.router.add_post("/cgi-bin/webhook/send", wecom)
        app.router.add_post("/robot/send", dingtalk)
        app.router.add_post("/open-apis/bot/v2/hook/abc", feishu)
        return app


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receivers, str]]:
    r = Receivers()
    runner = web.AppRunner(r.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield r, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def item(n: int, person: str = "li", channel: str = "email",
         recipient: str = "li@example.test", kind: str = "opened") -> Item:
    notice = {"kind": kind, "number": f"SV20261204-{n:04d}", "level": 3, "site": "qd-room",
              "device": f"cam{n:02d}", "title": f"摄像机无视频：摄像机{n}",
              "since": NIGHT.isoformat(), "link": "http://192.0.2.50:9108/a/t/li"}
    return Item(f"k{n}:{person}:{channel}", None, channel, recipient, kind,
                {"person": person, "language": "zh", "notice": notice})


async def test_smtp_down_for_a_while_then_back_every_mail_once(store: Store) -> None:
    mailbox = Mailbox()
    port = free_port()
    outbox = Outbox(store)
    sender = Sender(outbox, {"email": EmailChannel("127.0.0.1", port, "sv@example.test",
                                                   "none", timeout_s=2)},
                    dt.timezone(dt.timedelta(hours=8)))  # type: ignore[arg-type]
    await outbox.enqueue([item(n) for n in range(3)], NIGHT)
    assert await sender.deliver(NIGHT) == 0  # nothing listens: all three wait
    assert "email" in sender.failing
    assert await outbox.depth() == {"email": 3}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert await sender.deliver(NIGHT + dt.timedelta(seconds=1)) == 0  # all backing off
        assert await sender.deliver(NIGHT + dt.timedelta(seconds=6)) == 3
        assert await sender.deliver(NIGHT + dt.timedelta(minutes=5)) == 0  # none twice
    finally:
        controller.stop()
    assert "email" not in sender.failing and await outbox.depth() == {}
    ids = [m["Message-ID"] for m in mailbox.messages]
    assert sorted(ids) == ["<k0.li.email@sv-monitor>", "<k1.li.email@sv-monitor>",
                           "<k2.li.email@sv-monitor>"]
    body = mailbox.messages[0].get_payload(decode=True).decode()
    assert "摄像机无视频" in body and "确认：http://192.0.2.50:9108/a/t/li" in body
    # Enqueued again (a restart deciding the same thing): the key keeps it out.
    assert await outbox.enqueue([item(0)], NIGHT) == 0


async def test_sms_gateway_and_robots(store: Store, session: aiohttp.ClientSession,
                                      receivers: tuple[Receivers, str]) -> None:
    got, base = receivers
    channels = {
        "sms": HttpSmsChannel(session, f"{base}/sms/send",
                              body='{"to": "{phone}", "msg": "{text}"}',
                              success_match='"code": 0'),
        "wecom": RobotChannel(session, "wecom", f"{base}/cgi-bin/webhook/send?key=k"),
        "dingtalk": RobotChannel(session, "dingtalk", f"{base}/robot/send?access_token=t",
                                 DING_SECRET),
        "feishu": RobotChannel(session, "feishu", f"{base}/open-apis/bot/v2/hook/abc",
                               FEISHU_SECRET),
    }
    outbox = Outbox(store)
    sender = Sender(outbox, channels, dt.timezone(dt.timedelta(hours=8)))  # type: ignore[arg-type]
    await outbox.enqueue([item(1, channel="sms", recipient="+8613800000002")]
                         + [item(1, "", robot, robot) for robot in ("wecom", "dingtalk",
                                                                    "feishu")], NIGHT)
    assert await sender.deliver(NIGHT) == 4
    (sms,) = got.got['sms']
    assert sms["to"] == "+8613800000002"
    assert sms["msg"].startswith("[三级]故障qd-room/cam01 摄像机无视频") and len(sms["msg"]) <= 140
    assert "摄像机无视频" in got.got['wecom'][0]["text"]["content"]
    assert "摄像机无视频" in got.got['dingtalk'][0]["text"]["content"]  # the signature checked out
    assert "摄像机无视频" in got.got['feishu'][0]["content"]["text"]
    # A wrong DingTalk secret is refused by the robot, and retried later.
    channels["dingtalk"] = RobotChannel(session, "dingtalk",
                                        f"{base}/robot/send?access_token=t", "wrong")
    await outbox.enqueue([item(2, "", "dingtalk", "dingtalk")], NIGHT)
    assert await sender.deliver(NIGHT) == 0
    assert "sign not match" in sender.failing["dingtalk"]


async def test_a_storm_of_200_is_one_message_per_recipient(
        store: Store, session: aiohttp.ClientSession,
        receivers: tuple[Receivers, str]) -> None:
    got, base = receivers
    tickets, outbox = TicketStore(store), Outbox(store)
    notifier = Notifier(load_roster(HERE / "roster.yaml"), outbox, tickets, SlaPolicy(),
                        public_url="http://192.0.2.50:9108", link_secret=b"k" * 32,
                        robots=["wecom"], gather_s=0)
    for n in range(200):
        fault = FaultTicket(f"device:cam{n:03d}", FaultLevel.MINOR, "qd-room", f"cam{n:03d}",
                            f"摄像机无视频：摄像机{n}", "", (f"cam{n:03d}",), "qingdao")
        await tickets.open_fault(fault, NIGHT)
    await notifier.catch_up(NIGHT)
    assert sum((await outbox.depth()).values()) == 400  # li's SMS, the robot: 200 each
    sender = Sender(outbox, {
        "sms": HttpSmsChannel(session, f"{base}/sms/send",
                              body='{"to": "{phone}", "msg": "{text}"}'),
        "wecom": RobotChannel(session, "wecom", f"{base}/cgi-bin/webhook/send?key=k")},
        dt.timezone(dt.timedelta(hours=8)))  # type: ignore[arg-type]
    assert await sender.deliver(NIGHT) == 2
    (sms,) = got.got['sms']
    assert "200 个新故障" in sms["msg"]
    (robot,) = got.got['wecom']
    assert "200 个新故障" in robot["text"]["content"]
    assert await outbox.depth() == {}


async def test_gammu_outbox_files(tmp_path: Path) -> None:
    channel = GammuSmsChannel(tmp_path)
    from alerts.messages import Message
    await channel.send("+86 138-0000-0002", Message("s", "t", "[二级]故障 SV20261204-0001"), "k")
    (path,) = tmp_path.iterdir()  # noqa: ASYNC240
    assert path.name.startswith("OUTC") and path.name.endswith("_+8613800000002_sv.txt")
    assert path.read_bytes().decode("utf-16") == "[二级]故障 SV20261204-0001"


async def test_acknowledge_page(store: Store) -> None:
    """A link acknowledges its ticket once, as its person, in the occurrence of the fault
    it was sent for: forged, expired, replayed or outdated links get a page saying why."""
    from aiohttp.test_utils import TestClient, TestServer
    tickets = TicketStore(store)
    fault = FaultTicket("device:cam07", FaultLevel.MINOR, "qd-room", "cam07", "摄像机无视频",
                        "", ("cam07",), "qingdao")
    number = (await tickets.open_fault(fault, NIGHT)).number
    ticket = await tickets.get(number)
    assert ticket is not None
    secret = b"s" * 32
    app = web.Application()
    app.add_routes(routes(tickets, secret))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        token = make_token(secret, int(ticket.id), 0, "li", 3600)
        page = await client.get(f"/a/{token}/li")
        assert page.status == 200 and number in await page.text()
        assert (await tickets.get(number)).state == "open"  # type: ignore[union-attr]
        assert (await client.get(f"/a/{token}/wang")).status == 403  # not li's link
        forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        assert (await client.post(f"/a/{forged}/li")).status == 403
        assert (await client.post("/a/x/li")).status == 403  # malformed
        old = make_token(secret, int(ticket.id), 0, "li", 60, now=time.time() - 3600)
        expired = await client.post(f"/a/{old}/li")
        assert expired.status == 403 and "expired" in await expired.text()
        nowhere = make_token(secret, 999999, 0, "li", 3600)
        assert (await client.post(f"/a/{nowhere}/li")).status == 404
        done = await client.post(f"/a/{token}/li")
        assert done.status == 200 and "已确认" in await done.text()
        again = await client.post(f"/a/{token}/li")  # works once
        assert again.status == 409 and "acknowledged" in await again.text()
        # The fault clears and comes back: the ticket reopens, a new episode.  The old
        # link (still unexpired) no longer acknowledges anything.
        await tickets.resolve_fault("device:cam07", NIGHT + dt.timedelta(minutes=10), "ok")
        assert (await tickets.open_fault(fault, NIGHT + dt.timedelta(minutes=20))).kind \
            == "reopened"
        replay = await client.post(f"/a/{token}/li")
        text = await replay.text()
        assert replay.status == 410 and "reopened since" in text and "链接已过时" in text
        assert (await tickets.get(number)).state == "open"  # type: ignore[union-attr]
        fresh = make_token(secret, int(ticket.id), 1, "li", 3600)
        assert (await client.post(f"/a/{fresh}/li")).status == 200
    acked = await tickets.get(number)
    assert acked is not None and acked.state == "acknowledged" and acked.engineer == "li"


async def test_gammu_smsd_transmits_the_outbox_file(tmp_path: Path) -> None:
    """Debian's gammu-smsd with its files backend and gammu's dummy phone driver."""
    import asyncio
    import shutil
    import subprocess

    if shutil.which("gammu-smsd") is None:
        pytest.fail("gammu-smsd is missing: run `make test` (it installs it)")
    folders = {name: tmp_path / name for name in ("dummy", "inbox", "outbox", "sent", "error")}
    for folder in folders.values():
        folder.mkdir()
    (tmp_path / "smsdrc").write_text(f"""[gammu]
device = {folders['dummy']}
connection = none
model = dummy

[smsd]
service = files
inboxpath = {folders['inbox']}/
outboxpath = {folders['outbox']}/
sentsmspath = {folders['sent']}/
errorsmspath = {folders['error']}/
outboxformat = unicode
logfile = {tmp_path / 'log'}
commtimeout = 1
loopsleep = 1
""")
    from alerts.messages import Message
    channel = GammuSmsChannel(folders["outbox"])
    await channel.send("+8613800000002", Message("s", "t", "[二级]故障 SV20261204-0001"), "k")
    smsd = subprocess.Popen(["gammu-smsd", "-c", str(tmp_path / "smsdrc")],  # noqa: ASYNC220
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            sent = list(folders["sent"].iterdir())
            if sent:
                break
            await asyncio.sleep(0.1)
        assert len(sent) == 1
        log = (tmp_path / "log").read_text()
        assert "Transmitted" in log and "to +8613800000002" in log
        assert sent[0].read_bytes().decode("utf-16") == "[二级]故障 SV20261204-0001"
    finally:
        smsd.terminate()
        smsd.wait(timeout=10)
