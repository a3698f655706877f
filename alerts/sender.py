"""Delivers the outbox: retries with backoff, storm digests, rate limits, channel health.

* A burst of new-fault messages for one recipient on one channel -- more than
  `storm_threshold` tickets waiting at once -- goes out as one digest naming the worst
  ticket and the count, not one message each.
* No recipient gets more than `rate_limit` messages per channel in 10 minutes; the
  rest wait, and go as a digest when they may.
* A channel that fails is logged once when it starts failing and once when it
  recovers; its messages are retried with backoff (the outbox keeps them).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict, deque
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from alerts.channels import Channel, ChannelError
from alerts.messages import Message, Notice, render
from alerts.outbox import Delivery, Outbox
from monitor import crashpoints
from monitor.health import Health, attempt

log = logging.getLogger("alerts.sender")

WINDOW_S = 600.0
NEW = ("opened", "reopened", "escalation")
URGENT = 2  # levels 1 and 2 are never rate limited


def _level(delivery: Delivery) -> int:
    return int(delivery.payload["notice"].get("level") or 9)


def notice_of(delivery: Delivery, count: int = 1) -> Notice:
    n = delivery.payload["notice"]
    due = n.get("due_at")  # (messages queued before 2026-12-05 have none of these)
    return Notice(n["kind"] if count == 1 else "storm", n["number"], n["level"], n["site"],
                  n["device"], n["title"], dt.datetime.fromisoformat(n["since"]), n["link"],
                  n.get("detail", ""), count, n.get("site_name", ""), n.get("failed", ""),
                  n.get("due_clock"), dt.datetime.fromisoformat(due) if due else None,
                  n.get("page"))


class Sender:
    """Sends what is due, until cancelled."""

    def __init__(self, outbox: Outbox, channels: Mapping[str, Channel], zone: ZoneInfo, *,
                 storm_threshold: int = 4, rate_limit: int = 20,
                 sms_max_chars: int = 140, health: Health | None = None) -> None:
        self.outbox, self.channels, self.zone = outbox, channels, zone
        self.health = health or Health()
        self.storm_threshold, self.rate_limit = storm_threshold, rate_limit
        self.sms_max_chars = sms_max_chars
        self.sent_at: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.failing: dict[str, str] = {}  # channel → last error
        self.failures_total: dict[str, int] = defaultdict(int)
        self.delivered_total: dict[str, int] = defaultdict(int)

    def _message(self, delivery: Delivery, count: int = 1) -> Message:
        return render(notice_of(delivery, count), delivery.payload.get("language", "zh"),
                      self.zone, self.sms_max_chars)

    async def run(self, every_s: float = 1.0) -> None:
        """Deliver what is due, every `every_s`."""
        while True:
            await attempt(self.health, "sender", self.deliver(dt.datetime.now(dt.UTC)))
            await asyncio.sleep(every_s)

    def _batches(self, deliveries: list[Delivery]) -> list[tuple[list[Delivery], Message]]:
        """One digest for a burst of new faults, the rest one by one, in order.

        A storm is many tickets: more than `storm_threshold` of them with nothing but
        new-fault messages waiting.  A ticket with other messages too (one that flapped
        while the channel was down: opened, resolved, reopened) keeps them one by one and
        in order, never half in a digest."""
        kinds: dict[int | None, set[str]] = defaultdict(set)
        for d in deliveries:
            kinds[d.ticket_id].add(d.kind)
        only_new = {t for t, k in kinds.items() if t is not None and k <= set(NEW)}
        if len(only_new) <= self.storm_threshold:
            return [([d], self._message(d)) for d in deliveries]
        new = [d for d in deliveries if d.ticket_id in only_new]
        worst = min(new, key=lambda d: (_level(d), d.id))
        return [(new, self._message(worst, len(only_new)))] + [
            ([d], self._message(d)) for d in deliveries if d.ticket_id not in only_new]

    async def deliver(self, now: dt.datetime) -> int:
        """One pass over what is due; messages sent."""
        groups: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
        for delivery in await self.outbox.due(now):
            groups[(delivery.channel, delivery.recipient)].append(delivery)
        sent = 0
        for (channel_name, recipient), deliveries in groups.items():
            channel = self.channels.get(channel_name)
            if channel is None:
                await self.outbox.failed([d.id for d in deliveries], now,
                                         f"channel {channel_name} is not configured")
                continue
            window = self.sent_at[(channel_name, recipient)]
            while window and window[0] <= now.timestamp() - WINDOW_S:
                window.popleft()
            # Levels 1-2 first, past the rate limit: at most gathered into their own
            # digest, never held back.  A ticket's rows stay together and in order.
            urgent_tickets = {d.ticket_id for d in deliveries if _level(d) <= URGENT}
            urgent = [d for d in deliveries if d.ticket_id in urgent_tickets]
            others = [d for d in deliveries if d.ticket_id not in urgent_tickets]
            batches = [(b, m, True) for b, m in self._batches(urgent)]
            batches += [(b, m, False) for b, m in self._batches(others)]
            for i, (batch, message, pressing) in enumerate(batches):
                if not pressing and len(window) >= self.rate_limit:
                    until = dt.datetime.fromtimestamp(window[0] + WINDOW_S, dt.UTC)
                    await self.outbox.defer([d.id for d in batch], until)
                    continue
                ids = [d.id for d in batch]
                try:
                    crashpoints.reached("sending")
                    await channel.send(recipient, message, batch[0].key)
                    crashpoints.reached("sent")
                except ChannelError as exc:
                    self.failures_total[channel_name] += 1
                    if channel_name not in self.failing:
                        log.error("channel failing", extra={"fields": {
                            "channel": channel_name, "error": str(exc)}})
                    self.failing[channel_name] = str(exc)
                    # This recipient's channel is down: the rest of its messages wait too.
                    waiting = ids + [d.id for later, _, _ in batches[i + 1:] for d in later]
                    await self.outbox.failed(waiting, now, str(exc))
                    break
                if channel_name in self.failing:
                    del self.failing[channel_name]
                    log.info("channel recovered", extra={"fields": {"channel": channel_name}})
                await self.outbox.sent(ids, now)
                window.append(now.timestamp())
                self.delivered_total[channel_name] += 1
                sent += 1
        return sent
