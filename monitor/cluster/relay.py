"""Results over MQTT: a remote poller's way to the centre while PostgreSQL is out of reach.

Topics, under the MQTT topic prefix (``mqtt.topic_prefix``):
  ``<prefix>/cluster/batch/<node>``    poller → leader, QoS 1: one buffered batch
  ``<prefix>/cluster/applied/<node>``  leader → poller, QoS 1, retained: how far the
                                       centre has applied that node's batches
  ``<prefix>/cluster/beat/<node>``     poller → leader, QoS 0: the poller is alive
A remote poller (`Uplink`) sends its batches this way when the central store does not
answer; the leader (`Relay`) applies each in order with its original times, exactly as
the direct path does (`Store.record_rows`: a batch is applied once, and only if it is
the next), and answers with the node's mark; the poller deletes what the mark covers.
Nothing rests on the broker keeping anything: a batch stays in the poller's buffer until
a mark covers it, and is sent again otherwise.  The poller's heartbeat goes the same
way, so while MQTT carries its results the centre knows it is alive (its sites' faults
are raised as they happen, not folded into "lost contact with the poller").

Both sides keep a persistent session (a fixed client id per node, clean_session off):
a mark or a batch published while the other side is briefly away waits at the broker.

Every message is signed with ``cluster.secret`` (HMAC-SHA256 over the topic and the
body): a stranger on the broker can neither inject results, keep a dead poller alive,
nor make a poller drop its buffer with a forged mark.  What is refused is counted and
logged once per reason; the broker's ACL (``alerts/mosquitto.acl``) is the first line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import aiomqtt

from monitor.cluster.members import beat_for
from monitor.cluster.spool import Batch
from monitor.health import Health
from monitor.settings import MqttSettings
from monitor.store.store import Store

log = logging.getLogger("monitor.cluster")
UPLINK, RELAY = "results_uplink", "results_relay"
_SIG = 64  # hex characters of an HMAC-SHA256


def seal(secret: bytes, topic: str, body: bytes) -> bytes:
    """`body` signed for `topic`: the hex HMAC, a space, the body."""
    mac = hmac.new(secret, topic.encode() + b"\0" + body, hashlib.sha256).hexdigest()
    return mac.encode() + b" " + body


def unseal(secret: bytes, topic: str, payload: bytes) -> bytes:
    """The body of a sealed `payload`; ValueError when it is not signed for `topic`
    with `secret`."""
    if len(payload) < _SIG + 1 or payload[_SIG:_SIG + 1] != b" ":
        raise ValueError("unsigned message")
    body = payload[_SIG + 1:]
    want = hmac.new(secret, topic.encode() + b"\0" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want.encode(), payload[:_SIG]):
        raise ValueError("bad signature")
    return body


class _Refusals:
    """Counts refused messages; logs the first of each reason (and not without end)."""

    def __init__(self, what: str) -> None:
        self.what, self.logged = what, set[str]()

    def note(self, counts: dict[str, int], topic: str, reason: str) -> None:
        counts["refused"] = counts.get("refused", 0) + 1
        kind = reason.split(":")[0]
        if kind not in self.logged and len(self.logged) < 50:
            self.logged.add(kind)
            log.warning(f"{self.what} refused; further ones like it are only counted",
                        extra={"fields": {"topic": topic, "reason": reason}})


def _client(cfg: MqttSettings, identifier: str) -> aiomqtt.Client:
    return aiomqtt.Client(cfg.host, cfg.port, username=cfg.username,
                          password=cfg.password.resolve() if cfg.password else None,
                          identifier=identifier, clean_session=False)


class Uplink:
    """A remote poller's MQTT side: sends batches and heartbeats, reads its mark."""

    def __init__(self, cfg: MqttSettings, node: str, secret: bytes, health: Health, *,
                 heartbeat: float, silent: Callable[[], bool],
                 beat: Callable[[], Mapping[str, Any]]) -> None:
        self.cfg, self.node, self.secret, self.health = cfg, node, secret, health
        self.prefix = cfg.topic_prefix.rstrip("/")
        self.heartbeat, self.silent, self.beat = heartbeat, silent, beat
        self.client: aiomqtt.Client | None = None
        self.mark = 0  # the centre's last signed word on this node's applied batches
        self.marks = 0  # marks heard (to tell a fresh answer from a retained old one)
        self.heard = asyncio.Event()
        self.counts: dict[str, int] = {"beats": 0, "refused": 0}
        self._refusals = _Refusals("a results mark")
        self._beats = 0
        self._boot = secrets.token_hex(8)  # this run's heartbeats, numbered from 1
        health.add(UPLINK, critical=False)

    @property
    def connected(self) -> bool:
        return self.client is not None

    def topic(self, kind: str) -> str:
        return f"{self.prefix}/cluster/{kind}/{self.node}"

    async def run(self) -> None:
        """Stay connected, until cancelled."""
        delay = 1.0
        while True:
            try:
                async with _client(self.cfg, f"sv-monitor-{self.node}") as client:
                    await client.subscribe(self.topic("applied"), qos=1)
                    self.client, delay = client, 1.0
                    self.health.ok(UPLINK, f"connected to {self.cfg.host}")
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._marks(client))
                        group.create_task(self._heartbeats(client))
            except* aiomqtt.MqttError as exc:
                self.health.failed(UPLINK, f"MQTT: {exc.exceptions[0]}")
            except* Exception as exc:  # a bug: said, and the link is made again
                log.error("the results uplink failed", exc_info=exc.exceptions[0])
                self.health.failed(UPLINK, f"failed: {exc.exceptions[0]!r}")
            finally:
                self.client = None
            await asyncio.sleep(delay)
            delay = min(60.0, delay * 2)

    async def _marks(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            try:
                raw = json.loads(unseal(self.secret, topic, bytes(message.payload)))
                if raw.get("node") != self.node:
                    raise ValueError("a mark for another node")
                self.mark = int(raw["through"])
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                self._refusals.note(self.counts, topic, str(exc))
                continue
            self.marks += 1
            self.heard.set()

    async def _heartbeats(self, client: aiomqtt.Client) -> None:
        """While the central store does not hear this node, say it is alive this way."""
        while True:
            if self.silent():
                self._beats += 1
                body = json.dumps({"node": self.node, "boot": self._boot, "n": self._beats,
                                   "sent": time.time(), **self.beat()},
                                  default=str).encode()
                await client.publish(self.topic("beat"),
                                     seal(self.secret, self.topic("beat"), body), qos=0)
                self.counts["beats"] += 1
            await asyncio.sleep(self.heartbeat)

    async def forward(self, batches: list[Batch], wait_s: float) -> int:
        """Send `batches` (oldest first) and wait up to `wait_s` for the centre's mark;
        how far the centre has applied this node's batches (0: no answer).  A mark
        below the first batch, given after it was sent, means the centre lost what came
        before (a buffer file lost or dropped): they are sent again marked after a gap."""
        client = self.client
        if client is None:
            raise ConnectionError("not connected to the MQTT broker")
        before = self.marks
        for batch in batches:
            await client.publish(self.topic("batch"), seal(
                self.secret, self.topic("batch"), batch.payload(self.node)), qos=1)
        last = batches[-1].seq
        loop = asyncio.get_running_loop()
        end = loop.time() + wait_s
        while not (self.marks > before and self.mark >= last) and loop.time() < end:
            self.heard.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.heard.wait(), end - loop.time())
        if self.marks == before:
            return 0
        first = batches[0]
        if self.mark < first.seq - 1 and not first.after_gap:
            log.error("the centre misses this node's batches before this one; going on "
                      "after the gap", extra={"fields": {
                          "node": self.node, "applied": self.mark, "batch": first.seq}})
            return await self.forward([replace(first, after_gap=True), *batches[1:]], wait_s)
        return self.mark


class Relay:
    """The centre's MQTT side: while this node leads, applies the remote pollers'
    batches and heartbeats, and answers each batch with the node's mark."""

    def __init__(self, cfg: MqttSettings, node: str, secret: bytes, store: Store,
                 health: Health, *, deciding: Callable[[], bool],
                 max_age_s: float = 30.0) -> None:
        self.cfg, self.node, self.secret, self.store = cfg, node, secret, store
        self.prefix = cfg.topic_prefix.rstrip("/")
        self.health, self.deciding = health, deciding
        self.counts: dict[str, int] = {"applied": 0, "repeated": 0, "refused": 0,
                                       "beats": 0, "failed": 0}
        self._refusals = _Refusals("a remote poller's message")
        self._beats: dict[tuple[str, str], int] = {}  # (node, boot) → last number taken
        self.max_age = max_age_s  # a heartbeat sent longer ago (by the poller's clock)
        health.add(RELAY, critical=False)

    async def run(self) -> None:
        """Stay connected, until cancelled."""
        delay = 1.0
        while True:
            try:
                async with _client(self.cfg, f"sv-monitor-relay-{self.node}") as client:
                    await client.subscribe(f"{self.prefix}/cluster/batch/+", qos=1)
                    await client.subscribe(f"{self.prefix}/cluster/beat/+", qos=0)
                    delay = 1.0
                    self.health.ok(RELAY, f"connected to {self.cfg.host}")
                    async for message in client.messages:
                        await self.handle(client, str(message.topic),
                                          bytes(message.payload))
            except aiomqtt.MqttError as exc:
                self.health.failed(RELAY, f"MQTT: {exc}")
            await asyncio.sleep(delay)
            delay = min(60.0, delay * 2)

    async def handle(self, client: aiomqtt.Client, topic: str, payload: bytes) -> None:
        """One message from a remote poller (ignored unless this node leads)."""
        if not self.deciding():
            return  # the leader's relay applies it (or the poller sends it again)
        kind, _, node = topic.removeprefix(f"{self.prefix}/cluster/").partition("/")
        try:
            body = unseal(self.secret, topic, payload)
            if kind == "batch":
                sender, batch = Batch.from_payload(body)
                if sender != node:
                    raise ValueError(f"a batch of {sender!r} on {node!r}'s topic")
                await self._apply(client, node, batch)
            elif kind == "beat":
                await self._beat(node, json.loads(body))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._refusals.note(self.counts, topic, str(exc))
        except aiomqtt.MqttError:
            raise
        except Exception as exc:  # the store: the poller sends it again
            self.counts["failed"] += 1
            self.health.failed(RELAY, f"applying {topic}: {exc!r}")

    async def _apply(self, client: aiomqtt.Client, node: str, batch: Batch) -> None:
        applied = await self.store.record_rows(batch.history, batch.states,
                                               (node, batch.seq, batch.after_gap))
        self.counts["applied" if applied else "repeated"] += 1
        through = await self.store.applied(node)
        topic = f"{self.prefix}/cluster/applied/{node}"
        body = json.dumps({"node": node, "through": through}).encode()
        await client.publish(topic, seal(self.secret, topic, body), qos=1, retain=True)

    async def _beat(self, node: str, raw: Mapping[str, Any]) -> None:
        if raw["node"] != node:
            raise ValueError(f"a heartbeat of {raw['node']!r} on {node!r}'s topic")
        n, boot = int(raw["n"]), str(raw["boot"])
        if n <= self._beats.get((node, boot), 0):
            raise ValueError("a repeated heartbeat: a replay")
        if abs(time.time() - float(raw["sent"])) > self.max_age:
            raise ValueError(f"a heartbeat sent more than {self.max_age:g}s from now: a "
                             "replay, or the poller's clock is wrong")
        self._beats[(node, boot)] = n
        if len(self._beats) > 1000:  # boots of long ago
            del self._beats[next(iter(self._beats))]
        if await beat_for(self.store, node, str(raw["host"]), int(raw["pid"]),
                          dict(raw["status"])):
            self.counts["beats"] += 1
