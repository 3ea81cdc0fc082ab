"""A whole simulated site built from a site file: one physics model per simulated device, the shared
environment (grid frequency, sky, site load), the physics task and the Modbus server in front of it.

Owns which devices of a site file are simulated (transport on loopback, or an RTU line served on a
pty), how they are wired into the site balance and the handles tests use to inject steps and faults.
It never decides control actions and never edits the site file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from drivers.points import DeviceKind, MeterRole
from simulators.battery import BatteryPack, BmsModel, PackParameters, PcsModel
from simulators.clock import SimClock
from simulators.ev import EvChargerModel
from simulators.faults import Faults, WriteRecord
from simulators.frequency import FrequencySource
from simulators.heatpump import HeatPumpModel
from simulators.images import register_map_for
from simulators.io import DigitalIoModel
from simulators.load import LoadModel
from simulators.meter import MeterModel
from simulators.model import DeviceModel, PowerFlow
from simulators.pv import Irradiance, PvInverterModel, PvPlant
from simulators.server import Endpoint, ModbusSimServer, RegisterMap, SerialEndpoint, TcpEndpoint

if TYPE_CHECKING:
    from zoe_ems.config import SiteConfig
    from zoe_ems.config.devices import DeviceConfig

_LOG = logging.getLogger(__name__)

DEFAULT_STEP_S = 0.02
"""Physics step in simulated seconds (50 Hz: the frequency source is sampled at least this often)."""
DEFAULT_PCS_RATED_W = 50e3
DEFAULT_PV_RATED_W = 30e3
DEFAULT_HEAT_PUMP_W = 5e3


class SiteBuildError(ValueError):
    """The site file cannot be simulated; the message names the device and the field."""


@dataclass(frozen=True, kw_only=True)
class Listing:
    """Where one simulated device listens."""

    device_id: str
    kind: DeviceKind
    transport: str
    """``modbus_tcp``, ``modbus_rtu_over_tcp`` or ``modbus_rtu``."""
    address: str
    """``host:port``, or for RTU ``configured-path -> pty-path``."""
    unit: int

    def __str__(self) -> str:
        return f"{self.device_id:<20} {self.kind.value:<12} {self.transport:<20} {self.address}  unit {self.unit}"


@dataclass(kw_only=True)
class _Plan:
    device: DeviceConfig
    model: DeviceModel
    register_map: RegisterMap


class SimulatedSite:
    """Physics models of a site behind real Modbus sockets. Use ``from_config``, then ``async with site``."""

    def __init__(
        self,
        *,
        clock: SimClock,
        step_s: float,
        frequency: FrequencySource,
        irradiance: Irradiance,
        load: LoadModel,
        pv: PvPlant,
        plans: list[_Plan],
        skipped: list[str],
        flows: list[PowerFlow],
    ) -> None:
        self.clock = clock
        self.step_s = step_s
        self.frequency = frequency
        """Grid frequency: ``set(hz)``, ``play_steps([(after_s, hz), ...])``, ``play_ramp``, ``play_csv``."""
        self.irradiance = irradiance
        self.load = load
        """Site consumption: ``step(+100e3)``, ``schedule_step(after_s, w)``, ``set_base(w)``."""
        self.pv = pv
        """All PV inverters: ``set_irradiance(w_per_m2)``, ``set_clear_sky()``, ``play_csv(path)``."""
        self.server = ModbusSimServer()
        self.models: dict[str, DeviceModel] = {plan.device.id: plan.model for plan in plans}
        """Model of every simulated device by device id."""
        self.skipped = skipped
        """Device ids of the site file that are not simulated (transport not on loopback)."""
        self.t_s = 0.0
        """Simulated time the physics has reached."""
        self._plans = plans
        self._flows = flows
        self._task: asyncio.Task[None] | None = None
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._listings: list[Listing] = []
        self._started = False

    # --- building ----------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        config: SiteConfig,
        speed: float = 1.0,
        seed: int = 0,
        *,
        realistic: bool = True,
        step_s: float = DEFAULT_STEP_S,
        start_wall: float | None = None,
        initial_soc: float = 0.5,
    ) -> SimulatedSite:
        """Build models for every device of ``config`` on loopback or on an RTU line.

        ``realistic`` adds what a demo wants (load day shape and noise, frequency noise, clear-sky
        PV, a car at every charger, compressor minimum off time); False gives a quiet, deterministic
        site for tests (constant load, 50.000 Hz, no sun, no car). ``seed`` drives all randomness.
        """
        rng = random.Random(seed)
        clock = SimClock(speed, start_wall=start_wall)
        tz = ZoneInfo(config.site.timezone)
        utc_offset = datetime.fromtimestamp(clock.start_wall, tz).utcoffset()
        offset_s = utc_offset.total_seconds() if utc_offset is not None else 0.0
        frequency = FrequencySource(noise_hz=0.002 if realistic else 0.0, rng=random.Random(rng.random()))
        irradiance = Irradiance(
            start_wall=clock.start_wall,
            latitude=config.site.latitude if config.site.latitude is not None else 50.0,
            longitude=config.site.longitude if config.site.longitude is not None else offset_s / 240.0,
        )
        if not realistic:
            irradiance.set_constant(0.0)
        import_limit_w = config.site.grid.import_limit_w
        base_w = 0.3 * import_limit_w if import_limit_w > 0 else 10e3
        load = LoadModel(
            base_w=base_w,
            daily_shape=realistic,
            start_wall=clock.start_wall,
            utc_offset_s=offset_s,
            noise_w=0.01 * base_w if realistic else 0.0,
            rng=random.Random(rng.random()),
        )
        voltage = config.site.grid.nominal_voltage_v
        f_hz = frequency.sample

        plans: list[_Plan] = []
        skipped: list[str] = []
        packs: dict[str, BatteryPack] = {}
        pcs_of_bms = {d.bms: d for d in config.devices if d.kind is DeviceKind.PCS and d.bms is not None}
        simulated = [d for d in config.devices if is_simulated(d)]
        skipped = [d.id for d in config.devices if not is_simulated(d)]

        def pack_for_bms(bms: DeviceConfig) -> BatteryPack:
            if bms.id not in packs:
                pcs = pcs_of_bms.get(bms.id)
                rated = pcs.rated_power_kw * 1e3 if pcs is not None and pcs.rated_power_kw else DEFAULT_PCS_RATED_W
                capacity = bms.capacity_kwh * 1e3 if bms.capacity_kwh else 2.0 * rated
                packs[bms.id] = _pack(capacity, rated, initial_soc)
            return packs[bms.id]

        pcs_models: list[PcsModel] = []
        pv_models: list[PvInverterModel] = []
        ev_models: list[EvChargerModel] = []
        hp_models: list[HeatPumpModel] = []
        meters: list[tuple[DeviceConfig, MeterModel]] = []
        for device in simulated:
            model: DeviceModel
            if device.kind is DeviceKind.BMS:
                model = BmsModel(pack_for_bms(device))
            elif device.kind is DeviceKind.PCS:
                rated = device.rated_power_kw * 1e3 if device.rated_power_kw else DEFAULT_PCS_RATED_W
                if device.bms is not None:
                    pack = pack_for_bms(config.device(device.bms))
                else:
                    capacity = device.capacity_kwh * 1e3 if device.capacity_kwh else 2.0 * rated
                    pack = _pack(capacity, rated, initial_soc)
                pcs_model = PcsModel(pack, rated_w=rated, frequency_hz=f_hz)
                pcs_models.append(pcs_model)
                model = pcs_model
            elif device.kind is DeviceKind.PV_INVERTER:
                rated = device.rated_power_kw * 1e3 if device.rated_power_kw else DEFAULT_PV_RATED_W
                pv_model = PvInverterModel(irradiance, rated_w=rated, frequency_hz=f_hz)
                pv_models.append(pv_model)
                model = pv_model
            elif device.kind is DeviceKind.EV_CHARGER:
                ev_model = _ev_charger(device, voltage)
                if realistic:
                    ev_model.plug_in(20e3, stay_s=8 * 3600.0)
                ev_models.append(ev_model)
                model = ev_model
            elif device.kind is DeviceKind.SG_READY:
                rated = device.rated_power_kw * 1e3 if device.rated_power_kw else DEFAULT_HEAT_PUMP_W
                hp_model = HeatPumpModel(compressor_w=rated, min_off_s=300.0 if realistic else 0.0)
                hp_models.append(hp_model)
                model = hp_model
            elif device.kind is DeviceKind.DIGITAL_IO:
                model = DigitalIoModel()
            else:
                meter = MeterModel(device.role or MeterRole.GRID, [], frequency_hz=f_hz, nominal_voltage_v=voltage)
                meters.append((device, meter))
                model = meter
            plans.append(_Plan(device=device, model=model, register_map=_map(device, model)))

        flows_by_role: dict[MeterRole, list[PowerFlow]] = {
            MeterRole.GRID: [load, *pcs_models, *pv_models, *ev_models, *hp_models],
            MeterRole.PV: list(pv_models),
            MeterRole.LOAD: [load],
            MeterRole.EV: list(ev_models),
        }
        for device, meter in meters:
            meter.flows = list(flows_by_role[device.role or MeterRole.GRID])
        return cls(
            clock=clock,
            step_s=step_s,
            frequency=frequency,
            irradiance=irradiance,
            load=load,
            pv=PvPlant(irradiance, pv_models),
            plans=plans,
            skipped=skipped,
            flows=flows_by_role[MeterRole.GRID],
        )

    # --- running -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the pty lines and Modbus listeners and start the physics task."""
        if self._started:
            raise RuntimeError("site already started")
        self._started = True
        stack = contextlib.AsyncExitStack()
        self._exit_stack = stack
        try:
            lines: dict[str, tuple[str, str]] = {}
            for plan in self._plans:
                transport = plan.device.transport
                endpoint: Endpoint
                if transport.type == "modbus_rtu":
                    if transport.device not in lines:
                        lines[transport.device] = await _open_pty_line(stack, transport.device)
                    sim_end, ems_end = lines[transport.device]
                    endpoint = SerialEndpoint(
                        path=sim_end,
                        baudrate=transport.baudrate,
                        parity=transport.parity,
                        stopbits=transport.stopbits,
                        bytesize=transport.bytesize,
                    )
                    address = f"{transport.device} -> {ems_end}"
                else:
                    framer = "rtu" if transport.type == "modbus_rtu_over_tcp" else "socket"
                    endpoint = TcpEndpoint(transport.host, transport.port, framer=framer)
                    address = f"{transport.host}:{transport.port}"
                self.server.add_device(plan.device.id, plan.model, plan.register_map, endpoint, transport.unit)
                self._listings.append(
                    Listing(
                        device_id=plan.device.id,
                        kind=plan.device.kind,
                        transport=transport.type,
                        address=address,
                        unit=transport.unit,
                    )
                )
            self.advance(0.0)
            await self.server.start()
            stack.push_async_callback(self.server.stop)
            self._task = asyncio.create_task(self._run(), name="simulated-site-physics")
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop physics, close listeners and pty lines, remove the symlinks."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> SimulatedSite:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def advance(self, sim_s: float) -> None:
        """Step every model by ``sim_s`` simulated seconds now (in steps of at most ``step_s``)."""
        self._advance_to(self.t_s + sim_s)

    # --- inspection and injection ---------------------------------------------------------

    def listings(self) -> list[Listing]:
        """One entry per simulated device (after ``start``)."""
        return list(self._listings)

    def model(self, device_id: str) -> DeviceModel:
        try:
            return self.models[device_id]
        except KeyError:
            raise KeyError(f"no simulated device {device_id!r} (simulated: {', '.join(self.models)})") from None

    def grid_balance_w(self) -> float:
        """Site balance right now: load + battery + ev + pv + heat pump (W, + = import)."""
        return sum(sum(flow.phase_powers_w()) for flow in self._flows)

    def set_fault(
        self,
        device_id: str,
        *,
        no_response: bool | None = None,
        exception_code: int | None = None,
        delay_s: float | None = None,
        frozen: bool | None = None,
        forced: Mapping[str, float | None] | None = None,
        nan_everywhere: bool | None = None,
    ) -> Faults:
        """Switch protocol faults of one device (see ``ModbusSimServer.set_fault``)."""
        return self.server.set_fault(
            device_id,
            no_response=no_response,
            exception_code=exception_code,
            delay_s=delay_s,
            frozen=frozen,
            forced=forced,
            nan_everywhere=nan_everywhere,
        )

    def clear_faults(self, device_id: str | None = None) -> None:
        self.server.clear_faults(device_id)

    def write_log(self, device_id: str) -> list[WriteRecord]:
        """Writes that reached a device, with their ``time.monotonic()`` arrival time."""
        return self.server.write_log(device_id)

    # --- private -----------------------------------------------------------------------------

    def _advance_to(self, t_end: float) -> None:
        environment: list[Callable[[float, float], None]] = [self.frequency.advance, self.irradiance.advance]
        meters = [m for m in self.models.values() if isinstance(m, MeterModel)]
        others = [m for m in self.models.values() if not isinstance(m, MeterModel)]
        if t_end <= self.t_s:
            for advance in environment:
                advance(self.t_s, 0.0)
            self.load.advance(self.t_s, 0.0)
            for model in [*others, *meters]:
                model.advance(self.t_s, 0.0)
            return
        while self.t_s < t_end - 1e-12:
            dt = min(self.step_s, t_end - self.t_s)
            t = self.t_s + dt
            for advance in environment:
                advance(t, dt)
            self.load.advance(t, dt)
            for model in others:
                model.advance(t, dt)
            for meter in meters:
                meter.advance(t, dt)
            self.t_s = t

    async def _run(self) -> None:
        tick_real = max(0.005, self.clock.to_real(self.step_s))
        while True:
            started = time.monotonic()
            self._advance_to(max(self.t_s, self.clock.now()))
            await asyncio.sleep(max(0.0, tick_real - (time.monotonic() - started)))


def is_simulated(device: DeviceConfig) -> bool:
    """True when the simulator serves this device: TCP on a loopback host, or an RTU line."""
    transport = device.transport
    if transport.type == "modbus_rtu":
        return True
    return is_loopback(transport.host)


def is_loopback(host: str) -> bool:
    """127.x.x.x, ::1 or localhost."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _map(device: DeviceConfig, model: DeviceModel) -> RegisterMap:
    try:
        return register_map_for(device, model)
    except (KeyError, ValueError) as exc:
        raise SiteBuildError(f"devices.{device.id}.driver: {exc}") from None


def _pack(capacity_wh: float, rated_w: float, soc: float) -> BatteryPack:
    return BatteryPack(
        PackParameters(
            capacity_wh=capacity_wh,
            max_charge_w=1.1 * rated_w,  # the cells are not the bottleneck mid-range: the PCS rating is
            max_discharge_w=1.1 * rated_w,
            nominal_voltage_v=768.0 if capacity_wh >= 40e3 else 51.2,
        ),
        soc=soc,
    )


def _ev_charger(device: DeviceConfig, voltage_v: float) -> EvChargerModel:
    phases = device.phases or 3
    if device.max_current_a is not None:
        max_current = device.max_current_a
    elif device.rated_power_kw is not None:
        max_current = device.rated_power_kw * 1e3 / (phases * voltage_v)
    else:
        max_current = 16.0
    if max_current < device.min_current_a:
        raise SiteBuildError(
            f"devices.{device.id}: max current {max_current:.1f} A is below min_current_a {device.min_current_a} A"
        )
    return EvChargerModel(
        phases=phases, min_current_a=device.min_current_a, max_current_a=max_current, voltage_v=voltage_v
    )


async def _open_pty_line(stack: contextlib.AsyncExitStack, configured_path: str) -> tuple[str, str]:
    """Create a pty pair for an RTU line and link ``configured_path`` to the EMS end.

    Returns ``(simulator end, EMS end)``; the symlink is removed when ``stack`` closes.
    """
    from simulators.ptylink import PtyLink

    _check_link_path(configured_path)
    pty = await stack.enter_async_context(PtyLink())
    stack.callback(_link(configured_path, pty.b_path))
    return pty.a_path, pty.b_path


def _check_link_path(configured_path: str) -> None:
    link_path = Path(configured_path)
    if link_path.exists() and not link_path.is_symlink():
        raise SiteBuildError(
            f"{configured_path}: exists and is not a symlink; refusing to replace it with a simulated RTU line "
            "(point the site file at a free path such as /tmp/zoe-sim/ttyRS485-1)"
        )
    if not link_path.parent.is_dir():
        raise SiteBuildError(f"{configured_path}: directory {link_path.parent} does not exist")


def _link(configured_path: str, target: str) -> Callable[[], None]:
    """Atomically point ``configured_path`` at ``target``; return the function that removes the link."""
    link_path = Path(configured_path)
    tmp = link_path.with_name(f".{link_path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target)
    tmp.replace(link_path)

    def remove() -> None:
        with contextlib.suppress(OSError):
            if link_path.is_symlink() and os.readlink(link_path) == target:
                link_path.unlink()

    return remove
