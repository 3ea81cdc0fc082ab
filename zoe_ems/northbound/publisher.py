"""Drains the outbox to the broker at QoS 1: live messages as they are committed, the backlog found
at (re)connection at a bounded rate, flagged ``"historical": true`` when they waited more than 2 s,
rows deleted only after PUBACK.

Signs each message as it leaves (the ``historical`` flag is part of the signed form). Never builds
message content and never reconnects; a publish failure ends ``run`` so the link can reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiomqtt

from zoe_ems.northbound.signing import signed
from zoe_ems.storage.outbox import Outbox, OutboxRow
from zoe_ems.waits import wait_event

log = logging.getLogger(__name__)

FETCH_BATCH = 500
DELETE_BATCH = 200
DELETE_INTERVAL_S = 0.05
HISTORICAL_AFTER_S = 2.0
"""A backlog message older than this when it leaves is flagged ``"historical": true``."""


class OutboxPublisher:
    """One per service; ``run(client)`` once per MQTT connection."""

    def __init__(self, outbox: Outbox, key: bytes, *, historical_rate_per_s: float, max_in_flight: int) -> None:
        self._outbox = outbox
        self._key = key
        self._rate = historical_rate_per_s
        self._max_in_flight = max_in_flight
        self._wake = asyncio.Event()
        self._acked: list[int] = []
        self.published_total = 0
        self.historical_total = 0
        self.backlog_remaining = 0

    def notify(self) -> None:
        """New rows were committed (call on the event loop)."""
        self._wake.set()

    async def run(self, client: aiomqtt.Client) -> None:
        """Publish until cancelled or a publish fails (raises aiomqtt.MqttError)."""
        await self._outbox.flush()
        floor = await self._outbox.max_row_id()
        in_flight = asyncio.Semaphore(self._max_in_flight)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._live(client, floor, in_flight, group))
                group.create_task(self._backlog(client, floor, in_flight, group))
                group.create_task(self._deleter())
        finally:
            self._flush_deletes()

    async def _live(
        self, client: aiomqtt.Client, after_id: int, in_flight: asyncio.Semaphore, group: asyncio.TaskGroup
    ) -> None:
        while True:
            self._wake.clear()
            rows = await self._outbox.fetch(after_id, FETCH_BATCH)
            if not rows:
                await wait_event(self._wake, 1.0)
                continue
            for row in rows:
                await in_flight.acquire()
                group.create_task(self._publish(client, row, historical=False, in_flight=in_flight))
                after_id = row.row_id

    async def _backlog(
        self, client: aiomqtt.Client, floor: int, in_flight: asyncio.Semaphore, group: asyncio.TaskGroup
    ) -> None:
        after_id = 0
        started = time.monotonic()
        sent = 0
        while after_id < floor:
            rows = await self._outbox.fetch(after_id, FETCH_BATCH, upto_id=floor)
            if not rows:
                break
            if sent == 0:
                log.info("replaying outbox backlog (up to row %d) at %.0f msg/s", floor, self._rate)
            for row in rows:
                due = started + sent / self._rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)  # rate pacing, not synchronization
                await in_flight.acquire()
                historical = time.time() - row.created_utc > HISTORICAL_AFTER_S
                group.create_task(self._publish(client, row, historical=historical, in_flight=in_flight))
                after_id = row.row_id
                sent += 1
                self.backlog_remaining = max(0, floor - after_id)
        if sent:
            log.info("outbox backlog of %d messages handed to the broker", sent)
        self.backlog_remaining = 0

    async def _publish(
        self, client: aiomqtt.Client, row: OutboxRow, *, historical: bool, in_flight: asyncio.Semaphore
    ) -> None:
        try:
            message = json.loads(row.payload)
            message["historical"] = historical
            payload = json.dumps(signed(message, self._key), ensure_ascii=False, separators=(",", ":"))
            await client.publish(row.topic, payload.encode(), qos=1)
        finally:
            in_flight.release()
        self._acked.append(row.row_id)
        self.published_total += 1
        if historical:
            self.historical_total += 1
        if len(self._acked) >= DELETE_BATCH:
            self._flush_deletes()

    async def _deleter(self) -> None:
        while True:
            await asyncio.sleep(DELETE_INTERVAL_S)  # periodic batching of deletes
            self._flush_deletes()

    def _flush_deletes(self) -> None:
        if self._acked:
            ids, self._acked = self._acked, []
            self._outbox.delete_nowait(ids)
