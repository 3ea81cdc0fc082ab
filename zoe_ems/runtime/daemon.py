"""The daemon: wires config, device links, process image, control loop, history, status socket, systemd.

Every long-running activity is a supervised task. SIGTERM/SIGINT: safe setpoints are written, history
is flushed, the status socket is removed, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from drivers.driver import DeviceDriver, DriverOptions
from drivers.factory import build_driver
from drivers.points import DeviceKind, MeterRole
from drivers.transport import BusManager, DeviceChannel, DeviceLinkParams, SerialBusParams, TcpBusParams
from zoe_ems import __version__
from zoe_ems.config import SiteConfig
from zoe_ems.config.devices import DeviceConfig, ModbusRtuOverTcpTransport, ModbusRtuTransport, ModbusTcpTransport
from zoe_ems.control.inputs import ControlInputs, PriceInput
from zoe_ems.frequency.controller import FrequencyServiceController
from zoe_ems.frequency.fast_path import FastPath
from zoe_ems.frequency.mixer import PcsMixer
from zoe_ems.frequency.responder import FrequencyResponder
from zoe_ems.frequency.response_log import ResponseLogger
from zoe_ems.northbound.commands import PriceSeries
from zoe_ems.northbound.emitter import Severity
from zoe_ems.northbound.frequency_services import FrequencyServiceRegistry
from zoe_ems.northbound.service import NorthboundService
from zoe_ems.northbound.telemetry import TelemetryData
from zoe_ems.runtime.bridges import (
    AlarmTracker,
    FrequencyOrders,
    SqliteGridHistory,
    WakingNorthbound,
    telemetry_from,
    with_reserve,
)
from zoe_ems.runtime.control_loop import ControlLoop, EngineLike
from zoe_ems.runtime.status_socket import StatusServer
from zoe_ems.runtime.supervisor import Supervisor
from zoe_ems.runtime.systemd import SystemdNotifier
from zoe_ems.site.image import ProcessImage
from zoe_ems.site.poller import DeviceLink
from zoe_ems.storage.database import Database
from zoe_ems.storage.history import HistoryRecorder

if TYPE_CHECKING:
    from zoe_ems.runtime.planning import Planning

log = structlog.get_logger(__name__)


def bus_params(device: DeviceConfig) -> tuple[TcpBusParams | SerialBusParams, DeviceLinkParams]:
    """Transport parameters for one device from its site-file transport section."""
    t = device.transport
    bus: TcpBusParams | SerialBusParams
    if isinstance(t, ModbusTcpTransport):
        bus = TcpBusParams(host=t.host, port=t.port, rtu_framing=False)
    elif isinstance(t, ModbusRtuOverTcpTransport):
        bus = TcpBusParams(host=t.host, port=t.port, rtu_framing=True)
    else:
        assert isinstance(t, ModbusRtuTransport)
        bus = SerialBusParams(
            device=t.device, baudrate=t.baudrate, parity=t.parity, stopbits=t.stopbits, bytesize=t.bytesize
        )
    link = DeviceLinkParams(
        unit=t.unit,
        timeout_s=t.timeout_ms / 1000.0,
        retries=t.retries,
        inter_request_delay_s=t.inter_request_delay_ms / 1000.0,
    )
    return bus, link


def driver_options(device: DeviceConfig) -> DriverOptions:
    return DriverOptions(
        device_id=device.id,
        kind=device.kind,
        read_only=device.read_only,
        rated_power_w=device.rated_power_kw * 1000.0 if device.rated_power_kw else None,
        sign_power=device.sign.power,
        sign_setpoint=device.sign.setpoint,
    )


def _epoch_of(channel: DeviceChannel) -> Callable[[], int]:
    return lambda: channel.connection_epoch


class Daemon:
    """One running ZOE-EMS instance for one site file."""

    def __init__(self, config: SiteConfig, config_path: Path | None = None, engine: EngineLike | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.image = ProcessImage()
        self.inputs = ControlInputs()
        self.supervisor = Supervisor()
        self.notifier = SystemdNotifier()
        self.db = Database(config.storage.path)
        self.history = HistoryRecorder(self.db, retention_s=config.storage.history_retention_days * 86400.0)
        self.buses = BusManager()
        self.links: dict[str, DeviceLink] = {}
        self.drivers: dict[str, DeviceDriver] = {}
        self.status_server = StatusServer(Path(config.socket_path()))
        control = config.control
        self.responder = FrequencyResponder(
            ffr=control.ffr, fcr=control.fcr, dc=control.dc, measurement=control.frequency
        )
        self.frequency_controller = FrequencyServiceController(self.responder, control.soc_min, control.soc_max)
        if engine is None:
            from zoe_ems.control.engine import ControlEngine

            # Always present: a `frequency_service` command may arm a service at run time (idle until then).
            engine = ControlEngine(config, extra_controllers=[self.frequency_controller])
        self.engine = engine
        ratings = {
            d.id: (d.rated_power_kw or 1.0) * 1000.0
            for d in config.devices
            if d.kind is DeviceKind.PCS and not d.read_only
        }
        self.mixer: PcsMixer | None = PcsMixer(ratings, self._apply_to_link) if ratings else None
        self.frequency_registry = FrequencyServiceRegistry()
        self.frequency_orders = FrequencyOrders(config, self.responder, self.frequency_registry)
        self.alarms = AlarmTracker()
        self.planning: Planning | None = None
        if config.optimizer.enabled:
            # cvxpy/scipy/OSQP cost ~80 MB and a second of start-up: load them only when planning is on.
            from zoe_ems.runtime.planning import Planning

            self.planning = Planning(config, self.image, self.inputs, self._planning_event)
        self._envelope_key: tuple[str, ...] = ()
        self.northbound: NorthboundService | None = None
        if config.northbound is not None:
            grid_meters = [d.id for d in config.devices if d.kind is DeviceKind.METER and d.role is MeterRole.GRID]
            northbound = WakingNorthbound(
                config,
                self.inputs,
                self._telemetry,
                SqliteGridHistory(config.storage.path, grid_meters),
                config.storage.path,
                prices_callback=self._on_prices,
                frequency_services=self.frequency_registry,
            )
            northbound.on_inputs_changed = self._inputs_changed
            self.northbound = northbound
        self.fast_path: FastPath | None = None
        self._fast_buses: BusManager | None = None
        self.response_logger = ResponseLogger(self.db)
        self.loop = ControlLoop(
            self.engine,
            self.image,
            self.inputs,
            self._apply_setpoints,
            config.control.cycle_ms / 1000.0,
            on_cycle=self._on_cycle,
        )
        self.started_utc = time.time()
        self._stop = asyncio.Event()
        self._running = False
        for device in config.devices:
            self.image.add_device(
                device.id, device.kind, device.role.value if device.role else None, device.stale_window_s
            )

    # -- wiring -----------------------------------------------------------------------------------

    def _build_links(self) -> None:
        for device in self.config.devices:
            bus, link_params = bus_params(device)
            channel = self.buses.channel(bus, link_params, name=device.id)
            driver = build_driver(device.driver, channel, driver_options(device))
            self.drivers[device.id] = driver
            self.links[device.id] = DeviceLink(
                device,
                driver,
                self.image,
                _epoch_of(channel),
                desired_ttl_s=max(3.0 * self.loop.cycle_s, 1.5),
                wait_ready=channel.wait_connected,
            )

    def _apply_setpoints(self, device_id: str, setpoints: Mapping[str, float]) -> None:
        if self.mixer is not None and device_id in self.mixer.pcs_ids and "p_set_w" in setpoints:
            others = {k: v for k, v in setpoints.items() if k != "p_set_w"}
            if others:
                self._apply_to_link(device_id, others)
            hard: dict[str, tuple[float, float]] | None = getattr(self.engine, "hard_limits", None)
            if hard is None:  # an engine without a safety envelope (EngineLike test doubles): the rating bounds
                rated_kw = self.config.device(device_id).rated_power_kw
                rated_w = rated_kw * 1000.0 if rated_kw else math.inf
                low, high = -rated_w, rated_w
            else:
                low, high = hard.get(device_id, (0.0, 0.0))
            self.mixer.set_limits(device_id, low, high)
            self.mixer.set_base(device_id, setpoints["p_set_w"])
            return
        self._apply_to_link(device_id, setpoints)

    def _apply_to_link(self, device_id: str, setpoints: Mapping[str, float]) -> None:
        link = self.links.get(device_id)
        if link is not None:
            link.set_setpoints(setpoints)

    def _inputs_changed(self) -> None:
        """A command changed the control inputs: run a cycle now instead of at the next tick."""
        self.loop.wake()

    def _build_fast_path(self) -> None:
        """A dedicated connection to the frequency meter (shared bus on serial lines) and the fast-path task."""
        if self.mixer is None or not self.responder.armed:
            return
        measurement = self.config.control.frequency
        meter_id = measurement.device or next(
            (d.id for d in self.config.devices if d.kind is DeviceKind.METER and d.role is MeterRole.GRID), None
        )
        if meter_id is None:
            log.error("frequency services armed but no meter to sample: services idle")
            return
        meter = self.config.device(meter_id)
        bus, normal_link = bus_params(meter)
        if isinstance(bus, SerialBusParams):
            # A serial line opens once: the fast path shares the bus task (its requests are serialized anyway).
            channel = self.buses.channel(bus, normal_link, name=f"{meter.id}:fast")
        else:
            self._fast_buses = BusManager()
            fast_link = DeviceLinkParams(
                unit=normal_link.unit,
                timeout_s=measurement.timeout_ms / 1000.0,
                retries=0,
                inter_request_delay_s=normal_link.inter_request_delay_s,
                backoff_initial_s=0.05,
                backoff_max_s=0.5,
            )
            channel = self._fast_buses.channel(bus, fast_link, name=f"{meter.id}:fast")
        driver = build_driver(meter.driver, channel, driver_options(meter))
        mixer = self.mixer
        pcs_ids = mixer.pcs_ids

        def measured_pcs_w() -> float | None:
            snapshot_values = [self.image.latest(pcs_id, "p_w") for pcs_id in pcs_ids]
            known = [v for v in snapshot_values if v is not None]
            return sum(known) if known else None

        self.fast_path = FastPath(
            self.responder,
            driver,
            measurement.sample_hz,
            on_response=mixer.set_response,
            measured_pcs_w=measured_pcs_w,
            setpoint_w=lambda: sum(mixer.total_w(pcs_id) for pcs_id in pcs_ids),
            logger=self.response_logger,
        )

    def _on_cycle(self, decision: Any) -> None:
        self._refresh_mixer(decision)
        record = decision.to_dict()
        self.history.record_decision(time.time(), record)
        self.notifier.watchdog()
        raised, cleared = self.alarms.update(record.get("alarms", []))
        if self.northbound is not None:
            try:
                for alarm in raised:
                    severity: Severity = "alarm" if alarm.get("severity") == "critical" else "warning"
                    self.northbound.event("alarm.raised", severity, alarm.get("message", ""), alarm)
                for alarm in cleared:
                    self.northbound.event("alarm.cleared", "info", alarm.get("message", ""), alarm)
            except Exception:
                log.exception("alarm event not queued")
        for alarm in raised:
            log.warning("alarm raised", **{k: v for k, v in alarm.items() if k != "severity"})
        for alarm in cleared:
            log.info("alarm cleared", code=alarm.get("code"), device_id=alarm.get("device_id"))
        if self.planning is not None:
            soc = self.planning.fleet_soc()
            if soc is not None:
                self.planning.planner.notify_soc(soc)
            envelope_key = tuple(e.command_id for e in self.inputs.envelopes)
            if envelope_key != self._envelope_key:
                self._envelope_key = envelope_key
                self.planning.planner.request_replan("operating envelope")
        if self.frequency_orders.refresh(time.time(), self._set_reserve):
            log.info("frequency services changed", armed=[s.name for s in self.responder.services])
            self._ensure_fast_path()

    def _refresh_mixer(self, decision: Any) -> None:
        """Every cycle: hard limits of every PCS (also those the engine did not command) and grid headroom."""
        if self.mixer is None:
            return
        hard: dict[str, tuple[float, float]] | None = getattr(self.engine, "hard_limits", None)
        if hard is not None:
            commanded = getattr(decision, "setpoints", {})
            for pcs_id in self.mixer.pcs_ids:
                if pcs_id not in commanded:
                    low, high = hard.get(pcs_id, (0.0, 0.0))
                    self.mixer.set_limits(pcs_id, low, high)
        headroom: tuple[float, float] | None = getattr(self.engine, "grid_headroom_w", None)
        if headroom is not None:
            self.mixer.set_grid_headroom(*headroom)

    def _set_reserve(self, charge_w: float, discharge_w: float) -> None:
        if self.planning is not None:
            self.planning.set_frequency_reserve(charge_w, discharge_w)
        params = getattr(self.engine, "params", None)
        if params is None:
            return
        control = self.config.control
        setattr(  # noqa: B010 - engines without envelope params (test doubles) are skipped above
            self.engine,
            "params",
            with_reserve(
                params, control.reserve.up_kw * 1000.0, control.reserve.down_kw * 1000.0, charge_w, discharge_w
            ),
        )

    def _ensure_fast_path(self) -> None:
        if self.responder.armed and self.fast_path is None and self._running:
            self._build_fast_path()
            fast_buses = self._fast_buses
            if self.fast_path is not None:
                fast_path = self.fast_path

                async def start_fast_path() -> None:
                    if fast_buses is not None:
                        await fast_buses.start()
                    await fast_path.run()

                self.supervisor.start("frequency", start_fast_path)
                self.supervisor.start("frequency-log", fast_path.flush_loop)

    def _telemetry(self) -> TelemetryData:
        decision = self.loop.last_decision
        actions = decision.record.lines() if decision is not None and hasattr(decision, "record") else []
        hard: dict[str, tuple[float, float]] = getattr(self.engine, "hard_limits", {})
        frequency = None
        if self.responder.armed:
            frequency = (self.frequency_controller.available, self.frequency_controller.reason)
        return telemetry_from(self.image.snapshot(), hard, actions, frequency)

    def _planning_event(self, name: str, severity: str, details: dict[str, Any]) -> None:
        message = str(details.get("message") or name)
        if name.startswith("alarm"):
            log.warning(name, **details)
        if self.northbound is not None:
            level: Severity = "warning" if severity == "warning" else "info"
            self.northbound.event(name, level, message, details)

    def _on_prices(self, prices: PriceSeries) -> None:
        if self.planning is not None:
            try:
                self.planning.on_prices(
                    prices.start_utc, prices.step_s, list(prices.buy_eur_per_kwh), list(prices.sell_eur_per_kwh)
                )
            except ValueError as exc:
                log.warning("prices not usable by the optimizer", error=str(exc), command=prices.command_id)
        self.inputs.prices = PriceInput(
            start_utc=prices.start_utc,
            step_s=prices.step_s,
            buy_eur_per_kwh=prices.buy_eur_per_kwh,
            sell_eur_per_kwh=prices.sell_eur_per_kwh,
            source=prices.command_id,
        )

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        await self.history.start()
        await self.response_logger.start()
        self._build_links()
        self._build_fast_path()
        await self.buses.start()
        if self._fast_buses is not None:
            await self._fast_buses.start()
        if self.fast_path is not None:
            self.supervisor.start("frequency", self.fast_path.run)
            self.supervisor.start("frequency-log", self.fast_path.flush_loop)
        for device_id, link in self.links.items():
            self.supervisor.start(f"device:{device_id}", link.run)
        if self.northbound is not None:
            self.supervisor.start("northbound", self.northbound.run)
            # Events from the first control cycle need the outbox's persistent seq counters.
            if not await self.northbound.wait_stores_open(10.0):
                log.warning("northbound stores not open after 10 s; starting control anyway")
        self.supervisor.start("control", self.loop.run)
        if self.planning is not None:
            self.supervisor.start("optimizer", self.planning.planner.run)
        self._running = True
        self.supervisor.start("history", self._history_task)
        self._register_status_handlers()
        await self.status_server.start()
        self.notifier.ready()
        log.info(
            "zoe-ems running",
            version=__version__,
            site=self.config.site.id,
            devices=len(self.links),
            socket=str(self.status_server.path),
        )
        await self._stop.wait()
        await self.shutdown()
        return 0

    def request_stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        """Safe setpoints, flush, close."""
        self.notifier.stopping()
        log.info("shutting down", action=self.config.runtime.shutdown_action)
        # Actuation first: nothing may write after the safe setpoints.
        await self.supervisor.stop([n for n in self.supervisor.names() if n not in ("northbound", "history")])
        if self.planning is not None:
            self.planning.planner.close()
        await self._write_safe_setpoints()
        if self.northbound is not None:
            try:
                await self.northbound.stop()  # flushes the outbox and publishes the retained "offline" status
            except Exception as exc:
                log.warning("northbound stop failed", error=str(exc))
        await self.supervisor.stop()
        with contextlib.suppress(Exception):
            self.history.sample(self.image.snapshot())
            await self.history.flush()
        with contextlib.suppress(Exception):
            await self.response_logger.flush()
        await self.status_server.stop()
        await self.buses.stop()
        if self._fast_buses is not None:
            await self._fast_buses.stop()
        await self.db.close()
        log.info("stopped")

    async def _write_safe_setpoints(self) -> None:
        action = self.config.runtime.shutdown_action
        if action == "hold":
            return
        writes = []
        for device in self.config.devices:
            driver = self.drivers.get(device.id)
            if driver is None or device.read_only:
                continue
            if action == "release":
                release = getattr(driver, "release_control", None)
                if release is not None:
                    writes.append(self._safe_call(driver.device_id, release()))
                elif device.kind is DeviceKind.PCS:
                    log.info("device has no release; its own reversion timer applies", device=device.id)
            elif device.kind is DeviceKind.PCS and "p_set_w" in driver.writable_points:
                writes.append(self._safe_call(driver.device_id, driver.write({"p_set_w": 0.0})))
        await asyncio.gather(*writes)

    async def _safe_call(self, device_id: str, action: Awaitable[None]) -> None:
        try:
            await asyncio.wait_for(action, timeout=3.0)
        except Exception as exc:
            log.warning("safe setpoint not written", device=device_id, error=str(exc))

    async def _history_task(self) -> None:
        interval = self.config.storage.history_interval_s
        flush_every = max(1, round(self.config.storage.flush_interval_s / interval))
        count = 0
        while True:
            await asyncio.sleep(interval)
            self.history.sample(self.image.snapshot())
            count += 1
            if count % flush_every == 0:
                await self.history.flush()
                if self.planning is not None:
                    records = self.planning.take_records()
                    if records:
                        from zoe_ems.runtime.planning import store_plans

                        await self.db.run(partial(store_plans, records=records))

    # -- status -----------------------------------------------------------------------------------

    def _register_status_handlers(self) -> None:
        async def status(_: dict[str, Any]) -> dict[str, Any]:
            return self.status()

        self.status_server.register("status", status)

        async def plan(_: dict[str, Any]) -> dict[str, Any]:
            if self.planning is None:
                return {"plan": None, "reason": "optimizer disabled (optimizer.enabled: false)"}
            summary = self.planning.summary()
            reason = None if summary is not None else (self.planning.planner.last_error or "no plan solved yet")
            return {"plan": summary, "reason": reason}

        self.status_server.register("plan", plan)

    def status(self) -> dict[str, Any]:
        """Everything `zoe-ems status` shows."""
        decision = self.loop.last_decision
        return {
            "version": __version__,
            "site": self.config.site.id,
            "config": str(self.config_path) if self.config_path else None,
            "uptime_s": round(time.time() - self.started_utc, 1),
            "devices": self.image.to_dict(),
            "links": {device_id: link.stats.to_dict() for device_id, link in self.links.items()},
            "control": {**self.loop.stats(), "decision": decision.to_dict() if decision is not None else None},
            "tasks": self.supervisor.to_dict(),
            "frequency": self._frequency_status(),
            "northbound": self.northbound.status() if self.northbound is not None else None,
            "optimizer": self._optimizer_status(),
        }

    def _optimizer_status(self) -> dict[str, Any] | None:
        return self.planning.status() if self.planning is not None else None

    def _frequency_status(self) -> dict[str, Any] | None:
        if not self.responder.armed:
            return None
        fast = self.fast_path
        flt = self.responder.filter
        last = self.responder.last
        return {
            "available": self.frequency_controller.available,
            "reason": self.frequency_controller.reason,
            "f_hz": fast.last_f_hz if fast else None,
            "response_w": self.mixer.response_w if self.mixer else 0.0,
            "clamped_w": self.mixer.clamped_w if self.mixer else 0.0,
            "samples": fast.samples if fast else 0,
            "read_errors": fast.read_errors if fast else 0,
            "rejected_range": flt.rejected_range,
            "rejected_rocof": flt.rejected_rocof,
            "services": [{"name": o.name, "p_w": o.p_w, "active": o.active, "state": o.state} for o in last.outputs]
            if last
            else [],
        }
