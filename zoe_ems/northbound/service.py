"""NorthboundService: the VPP link as one supervisable activity.

Runs the MQTT connection (reconnecting with capped back-off), command intake, the telemetry and
response tickers, DR events, approvals housekeeping and the store-and-forward publisher. It turns
commands into ControlInputs entries and never writes to devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import aiomqtt

from zoe_ems.config import SiteConfig
from zoe_ems.config.northbound import NorthboundConfig
from zoe_ems.control.inputs import ControlInputs
from zoe_ems.northbound.approvals import ApprovalStore
from zoe_ems.northbound.baseline import GridHistory
from zoe_ems.northbound.commands import CommandProcessor, PriceSeries
from zoe_ems.northbound.dr import DrManager
from zoe_ems.northbound.emitter import Severity
from zoe_ems.northbound.frequency_services import FrequencyServiceRegistry
from zoe_ems.northbound.limits import SiteLimits
from zoe_ems.northbound.messages import Mode
from zoe_ems.northbound.mqtt import (
    Backoff,
    ConnectionSetupError,
    Topics,
    build_client,
    classify_connect_error,
    load_credentials,
    paho_logger,
)
from zoe_ems.northbound.publisher import OutboxPublisher
from zoe_ems.northbound.signing import load_key, signed
from zoe_ems.northbound.telemetry import TelemetryData, TelemetrySource, kw, telemetry_values
from zoe_ems.northbound.timefmt import iso_utc
from zoe_ems.northbound.validation import CommandValidator
from zoe_ems.storage.outbox import DropReport, Outbox
from zoe_ems.storage.replay import ReplayCache
from zoe_ems.waits import wait_event

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 0.25
DR_SAMPLE_S = 1.0
REPLAY_PURGE_S = 600.0
STOP_DRAIN_S = 2.0
APPROVAL_LOG_KEEP_S = 7 * 86400.0
"""Decided, timed-out and manual-mode-logged commands are forgotten this long after they expired."""


class NorthboundService:
    """The VPP link of one site. ``await run()`` until ``await stop()``."""

    def __init__(
        self,
        config: SiteConfig,
        inputs: ControlInputs,
        telemetry_source: TelemetrySource,
        history: GridHistory | None,
        db_path: Path,
        *,
        prices_callback: Callable[[PriceSeries], None] | None = None,
        frequency_services: FrequencyServiceRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stores_ready = asyncio.Event()
        if config.northbound is None:
            raise ValueError("northbound: the site file has no northbound section")
        self.config: NorthboundConfig = config.northbound
        self.site_id = config.site.id
        self.inputs = inputs
        self.topics = Topics.for_site(self.config.mqtt.topic_prefix, self.site_id)
        self.frequency_services = frequency_services if frequency_services is not None else FrequencyServiceRegistry()
        self.db_path = Path(db_path)
        self._site = config
        self._telemetry_source = telemetry_source
        self._history = history
        self._prices_callback = prices_callback
        self._clock = clock
        self._key = load_key(self.config.command_key_file)
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._source_failing = False
        self.connected = False
        self.last_connect_error: tuple[str, str] | None = None
        self.outbox = Outbox(
            self.db_path,
            quota_bytes=int(self.config.outbox.quota_mb * 1_000_000),
            on_commit=self._on_commit_threadsafe,
            on_drop=self._on_drop_threadsafe,
        )
        self.publisher = OutboxPublisher(
            self.outbox,
            self._key,
            historical_rate_per_s=self.config.outbox.historical_rate_per_s,
            max_in_flight=self.config.outbox.max_in_flight,
        )
        self._replay: ReplayCache | None = None
        self._approvals: ApprovalStore | None = None
        self._processor: CommandProcessor | None = None
        self._dr: DrManager | None = None

    # ---- public API -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run the link until :meth:`stop`. Safe to call again after it returned or raised."""
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._done.clear()
        await asyncio.to_thread(self._open_stores)
        self._stores_ready.set()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._link_loop(), name="northbound-link")
                group.create_task(self._telemetry_loop(), name="northbound-telemetry")
                group.create_task(self._response_loop(), name="northbound-response")
                group.create_task(self._housekeeping_loop(), name="northbound-housekeeping")
        finally:
            self.connected = False
            await asyncio.to_thread(self._close_stores)
            self._done.set()

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Flush the outbox, publish the retained ``offline`` status, disconnect and let ``run`` return."""
        self._stopping.set()
        if self._loop is None:
            return
        if not await wait_event(self._done, timeout_s):
            log.warning("northbound did not stop within %.0f s", timeout_s)

    @property
    def stores_open(self) -> bool:
        """True once the outbox and command stores are open (events then get their persistent ``seq``)."""
        return self._stores_ready.is_set()

    async def wait_stores_open(self, timeout_s: float) -> bool:
        """Wait until the stores are open; False on timeout."""
        return await wait_event(self._stores_ready, timeout_s)

    @property
    def processor(self) -> CommandProcessor:
        if self._processor is None:
            raise RuntimeError("the northbound service is not running")
        return self._processor

    @property
    def mode(self) -> Mode:
        return self._processor.mode if self._processor is not None else self.config.mode

    def status(self) -> dict[str, Any]:
        """Snapshot for `zoe-ems status`."""
        stats = self.outbox.stats_nowait()
        out: dict[str, Any] = {
            "connected": self.connected,
            "broker": f"{self.config.mqtt.host}:{self.config.mqtt.port}",
            "last_connect_error": None
            if self.last_connect_error is None
            else {"category": self.last_connect_error[0], "detail": self.last_connect_error[1]},
            "outbox": {"rows": stats.rows, "bytes": stats.bytes, "dropped_total": stats.dropped_total},
            "published_total": self.publisher.published_total,
            "backlog_remaining": self.publisher.backlog_remaining,
        }
        if self._processor is not None:
            out.update(self._processor.status())
        else:
            out["mode"] = self.config.mode
        return out

    # ---- emitter (outbox-backed) ------------------------------------------------------------------------

    def ack(self, command_id: str | None, status: str, *, code: str | None = None, reason: str = "") -> None:
        log.info("command %s: %s%s %s", command_id, status, f" ({code})" if code else "", reason)
        message = {"v": 1, "id": command_id, "status": status, "code": code, "reason": reason, "ts": self._now_iso()}
        self.outbox.append(self.topics.ack, "ack", message)

    def event(self, name: str, severity: Severity, message: str, details: dict[str, Any] | None = None) -> None:
        level = logging.WARNING if severity in ("warning", "alarm", "security") else logging.INFO
        log.log(level, "event %s: %s", name, message)
        body = {
            "v": 1,
            "site_id": self.site_id,
            "ts": self._now_iso(),
            "event": name,
            "severity": severity,
            "message": message,
            "details": details or {},
        }
        self.outbox.append(self.topics.events, "event", body)

    def response(self, message_type: Literal["response", "dr_event_report"], data: dict[str, Any]) -> None:
        kind = "response" if message_type == "response" else "report"
        body = {"v": 1, "site_id": self.site_id, "ts": self._now_iso(), "type": message_type, "data": data}
        self.outbox.append(self.topics.response, kind, body)

    # ---- tasks ------------------------------------------------------------------------------------------

    async def _link_loop(self) -> None:
        mqtt = self.config.mqtt
        backoff = Backoff(mqtt.reconnect_min_s, mqtt.reconnect_max_s)
        paho_log, paho_errors = paho_logger(f"zoe_ems.northbound.paho.{self.site_id}")
        failures = 0
        while not self._stopping.is_set():
            try:
                tls_context, password = await asyncio.to_thread(load_credentials, mqtt)
                client = build_client(
                    mqtt,
                    site_id=self.site_id,
                    will_topic=self.topics.status,
                    will_payload=self._status_payload("offline"),
                    tls_context=tls_context,
                    password=password,
                    max_inflight=self.config.outbox.max_in_flight,
                    logger=paho_log,
                )
                paho_errors.last = None
                async with client:
                    backoff.reset()
                    log.info(
                        "connected to MQTT broker %s:%d as %s%s",
                        mqtt.host,
                        mqtt.port,
                        client.identifier,
                        f" after {failures} failed attempts" if failures else "",
                    )
                    failures = 0
                    await client.publish(self.topics.status, self._status_payload("online"), qos=1, retain=True)
                    await client.subscribe(self.topics.cmd, qos=1)
                    self.connected = True
                    self.last_connect_error = None
                    await self._serve(client)
                    await self._say_goodbye(client)
                    return
            except (aiomqtt.MqttError, ConnectionSetupError, OSError, ExceptionGroup) as exc:
                cause = _leaf(exc)
                was_connected = self.connected
                self.connected = False
                category, detail = classify_connect_error(cause, paho_errors.last)
                if was_connected:
                    log.warning("MQTT connection lost (%s: %s); reconnecting", category, detail)
                elif self.last_connect_error != (category, detail):
                    log.warning("MQTT connection to %s:%d failed (%s): %s", mqtt.host, mqtt.port, category, detail)
                else:
                    log.debug("MQTT connection still failing (%s): %s", category, detail)
                if category == "other":
                    log.warning("unexpected MQTT link failure", exc_info=cause)
                self.last_connect_error = (category, detail)
                failures += 1
                if await self._wait_stop(backoff.next_delay()):
                    return

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Receive commands and publish the outbox until stop (returns) or disconnection (raises)."""
        async with asyncio.TaskGroup() as group:
            receiver = group.create_task(self._receive(client))
            publisher = group.create_task(self.publisher.run(client))
            await self._stopping.wait()
            receiver.cancel()
            await self.outbox.flush()
            deadline = time.monotonic() + STOP_DRAIN_S
            # Bounded drain of the outbox before going offline.
            while self.outbox.stats_nowait().rows > 0 and time.monotonic() < deadline and not publisher.done():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            publisher.cancel()

    async def _say_goodbye(self, client: aiomqtt.Client) -> None:
        try:
            await client.publish(self.topics.status, self._status_payload("offline"), qos=1, retain=True, timeout=3)
            log.info("published offline status; disconnecting")
        except aiomqtt.MqttError as exc:
            log.warning("could not publish offline status: %s", exc)

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if not message.topic.matches(self.topics.cmd):
                continue
            payload = message.payload
            if isinstance(payload, bytes | bytearray):
                raw = bytes(payload)
            elif payload is None:
                raw = b""
            else:
                raw = str(payload).encode()
            await self.processor.handle(raw)

    async def _telemetry_loop(self) -> None:
        interval = self.config.telemetry_interval_s
        next_tick = time.monotonic()
        while not self._stopping.is_set():
            data = self._sample()
            if data is not None:
                self._publish_telemetry(data)
            next_tick += interval
            now = time.monotonic()
            if next_tick < now:
                next_tick = now + interval
            if await self._wait_stop(next_tick - now):
                return

    async def _response_loop(self) -> None:
        interval = self.config.response_interval_s
        while not await self._wait_stop(interval):
            processor = self.processor
            dispatch = processor.active.get("setpoint")
            dr = self._dr.active() if self._dr is not None else None
            if dispatch is None and dr is None:
                continue
            data = self._sample()
            if dr is not None and self._dr is not None:
                values = self._dr.response_values(data)
                if values is not None:
                    self.response("response", values)
            if dispatch is not None and self.inputs.setpoint is not None:
                self.response("response", _dispatch_values(self.inputs.setpoint.target, self.inputs, data))

    async def _housekeeping_loop(self) -> None:
        last_dr = 0.0
        last_purge = time.monotonic()
        while not await self._wait_stop(HOUSEKEEPING_S):
            try:
                await self.processor.tick()
                now_mono = time.monotonic()
                if self._dr is not None and self._dr.current is not None and now_mono - last_dr >= DR_SAMPLE_S:
                    last_dr = now_mono
                    await self._dr.tick(self._clock(), self._sample())
                if now_mono - last_purge >= REPLAY_PURGE_S and self._replay is not None:
                    last_purge = now_mono
                    await asyncio.to_thread(self._replay.purge, self._clock())
                    if self._approvals is not None:
                        await asyncio.to_thread(self._approvals.purge, self._clock() - APPROVAL_LOG_KEEP_S)
            except Exception:
                log.exception("northbound housekeeping failed; continuing")

    # ---- helpers ----------------------------------------------------------------------------------------

    def _open_stores(self) -> None:
        self.outbox.open()
        self._replay = ReplayCache(self.db_path)
        self._approvals = ApprovalStore(self.db_path)
        mode = self._initial_mode(self._approvals)
        self._dr = DrManager(inputs=self.inputs, history=self._history, timezone=self._site.site.timezone, emitter=self)
        validator = CommandValidator(
            key=self._key,
            limits=SiteLimits.from_config(self._site),
            replay=self._replay,
            max_clock_skew_s=self.config.max_clock_skew_s,
            max_validity_s=self.config.max_command_validity_s,
            allow_mode_change=self.config.allow_remote_mode_change,
            clock=self._clock,
        )
        self._processor = CommandProcessor(
            validator=validator,
            inputs=self.inputs,
            approvals=self._approvals,
            emitter=self,
            dr=self._dr,
            registry=self.frequency_services,
            approval=self.config.approval,
            mode=mode,
            clock=self._clock,
            prices_callback=self._prices_callback,
            on_mode_change=self._persist_mode,
        )

    def _close_stores(self) -> None:
        self.outbox.close()
        if self._replay is not None:
            self._replay.close()
        if self._approvals is not None:
            self._approvals.close()

    def _initial_mode(self, store: ApprovalStore) -> Mode:
        """The site file's mode, unless a signed `mode` command changed it since this site-file mode was set."""
        stored = store.get_state("mode")
        if stored is None or not self.config.allow_remote_mode_change:
            return self.config.mode
        saved = json.loads(stored)
        if saved.get("config_mode") == self.config.mode and saved.get("mode") in ("auto", "semi_auto", "manual"):
            mode: Mode = saved["mode"]
            return mode
        return self.config.mode

    def _persist_mode(self, mode: Mode) -> None:
        if self._approvals is not None:
            self._approvals.set_state("mode", json.dumps({"mode": mode, "config_mode": self.config.mode}))

    def _publish_telemetry(self, data: TelemetryData) -> None:
        processor = self.processor
        values: dict[str, Any] = dict(telemetry_values(data))
        responding = "setpoint" in processor.active or (self._dr is not None and self._dr.active() is not None)
        values["mode"] = processor.mode
        values["active_command_id"] = processor.active_command_id()
        values["response_status"] = (
            "responding" if responding else "pending_approval" if processor.pending_count else "idle"
        )
        message = {"v": 1, "site_id": self.site_id, "ts": self._now_iso(), "data": values}
        self.outbox.append(self.topics.telemetry, "telemetry", message)

    def _sample(self) -> TelemetryData | None:
        try:
            data = self._telemetry_source()
        except Exception:
            if not self._source_failing:
                log.exception("telemetry source failed; skipping samples until it recovers")
            self._source_failing = True
            return None
        if self._source_failing:
            log.info("telemetry source recovered")
            self._source_failing = False
        return data

    def _status_payload(self, state: str) -> bytes:
        message = {"v": 1, "state": state, "ts": self._now_iso(), "site_id": self.site_id}
        return json.dumps(signed(message, self._key), separators=(",", ":")).encode()

    def _now_iso(self) -> str:
        return iso_utc(self._clock())

    async def _wait_stop(self, delay_s: float) -> bool:
        """Sleep ``delay_s`` unless stop is requested first; True when stopping."""
        if delay_s <= 0:
            return self._stopping.is_set()
        return await wait_event(self._stopping, delay_s)

    def _on_commit_threadsafe(self) -> None:
        self._call_soon(self.publisher.notify)

    def _on_drop_threadsafe(self, report: DropReport) -> None:
        self._call_soon(lambda: self._emit_drop_event(report))

    def _call_soon(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop closing: nothing left to wake
            loop.call_soon_threadsafe(fn)

    def _emit_drop_event(self, report: DropReport) -> None:
        self.event(
            "outbox.dropped",
            "alarm",
            f"outbox quota reached: dropped the {report.messages} oldest telemetry messages ({report.bytes} bytes)",
            {
                "messages": report.messages,
                "bytes": report.bytes,
                "quota_bytes": self.outbox.quota_bytes,
                "by_topic": {
                    topic: {"count": c, "first_seq": first, "last_seq": last}
                    for topic, (c, first, last) in report.by_topic.items()
                },
            },
        )


def _dispatch_values(target: str, inputs: ControlInputs, data: TelemetryData | None) -> dict[str, Any]:
    setpoint = inputs.setpoint
    assert setpoint is not None
    current_w = None
    if data is not None:
        current_w = data.battery_w if target == "battery" else data.grid_w
    achievement = None
    if current_w is not None:
        error = abs(current_w - setpoint.p_w)
        achievement = round(max(0.0, 1.0 - error / max(abs(setpoint.p_w), 1000.0)), 4)
    return {
        "kind": "dispatch",
        "command_id": setpoint.command_id,
        "current_kw": kw(current_w),
        "target_kw": kw(setpoint.p_w),
        "achievement_rate": achievement,
        "actions": list(data.actions) if data is not None else [],
    }


def _leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside ``exc``."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
