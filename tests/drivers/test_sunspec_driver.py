"""SunSpec discovery and SunSpecDriver against simulated devices held in memory."""

from __future__ import annotations

import pytest

from drivers.driver import DriverOptions
from drivers.errors import DeviceExceptionResponse, DeviceTimeout, ReadOnlyDevice
from drivers.points import DeviceKind
from drivers.profile import Function, PollClass
from drivers.sunspec.discovery import SunSpecNotFound, discover
from drivers.sunspec.driver import SunSpecDriver, SunSpecError
from drivers.sunspec.image import SunSpecImage, meter_image, pv_inverter_image, storage_inverter_image
from drivers.sunspec.models import model_layout
from drivers.sunspec.values import decode_raw

ALL_POLLS = frozenset(PollClass)


class DictIO:
    """RegisterIO over a dict, answering like a strict device: unknown addresses give exception 2,
    reads above 125 registers exception 3. Records every request."""

    def __init__(self, registers: dict[int, int]) -> None:
        self.registers = registers
        self.reads: list[tuple[int, int]] = []
        self.writes: list[tuple[int, list[int]]] = []

    @property
    def name(self) -> str:
        return "memory/unit 1"

    async def read(self, function: Function, address: int, count: int) -> list[int]:
        self.reads.append((address, count))
        if function is not Function.HOLDING or count > 125:
            raise DeviceExceptionResponse(self.name, 3)
        if any(a not in self.registers for a in range(address, address + count)):
            raise DeviceExceptionResponse(self.name, 2)
        return [self.registers[a] for a in range(address, address + count)]

    async def write_registers(self, address: int, values: list[int]) -> None:
        if len(values) > 123 or any(a not in self.registers for a in range(address, address + len(values))):
            raise DeviceExceptionResponse(self.name, 2)
        self.writes.append((address, list(values)))
        for offset, word in enumerate(values):
            self.registers[address + offset] = word

    async def write_coils(self, address: int, values: list[bool]) -> None:
        raise DeviceExceptionResponse(self.name, 1)


def driver_for(image: SunSpecImage, kind: DeviceKind, **options: object) -> tuple[SunSpecDriver, DictIO]:
    io = DictIO(dict(image.registers))
    revert = options.pop("revert_timeout_s", 60.0)
    assert isinstance(revert, float)
    driver = SunSpecDriver(
        io,
        DriverOptions(device_id="dev1", kind=kind, **options),  # type: ignore[arg-type]
        revert_timeout_s=revert,
    )
    return driver, io


def written_points(io: DictIO, image: SunSpecImage, model_id: int) -> list[dict[str, object]]:
    """Each write request decoded into {point: raw value} of ``model_id``."""
    block = next(b for b in image.blocks if b.model_id == model_id)
    layout = model_layout(model_id, block.length)
    requests: list[dict[str, object]] = []
    for address, values in io.writes:
        points: dict[str, object] = {}
        for placed in layout:
            start = block.address + placed.offset
            if address <= start and start + placed.point.size <= address + len(values):
                words = values[start - address : start - address + placed.point.size]
                points[placed.path] = decode_raw(placed.point.type, words)
        if points:
            requests.append(points)
    return requests


def sync_device_writes(io: DictIO, image: SunSpecImage) -> None:
    for address, values in io.writes:
        image.apply_write(address, values)


# --- discovery ----------------------------------------------------------------------------------


@pytest.mark.parametrize("base", [40000, 0, 50000])
async def test_discovery_finds_the_chain_at_each_standard_base(base: int) -> None:
    image = meter_image(p_w=100.0, base=base)
    io = DictIO(dict(image.registers))
    blocks = await discover(io)
    assert [(b.model_id, b.length) for b in blocks] == [(1, 66), (203, 105)]
    assert blocks[0].address == base + 2
    assert blocks[1].address == base + 2 + 68


async def test_discovery_fails_cleanly_without_a_marker() -> None:
    io = DictIO({40000: 0, 40001: 0})
    with pytest.raises(SunSpecNotFound) as caught:
        await discover(io)
    message = str(caught.value)
    assert "40000: no marker" in message and "0: Modbus exception 2" in message and "50000" in message


async def test_discovery_skips_unknown_and_long_models_by_their_length() -> None:
    image = meter_image(p_w=-750.0, max_power_w=20_000.0)
    meter_at = image.blocks[1].address
    vendor_length = 300  # longer than one Modbus read
    shifted = {a + (vendor_length + 2 if a >= meter_at else 0): w for a, w in image.registers.items()}
    shifted[meter_at] = 64999
    shifted[meter_at + 1] = vendor_length
    shifted.update({meter_at + 2 + i: 0 for i in range(vendor_length)})
    io = DictIO(shifted)
    blocks = await discover(io)
    assert [b.model_id for b in blocks] == [1, 64999, 203]
    driver = SunSpecDriver(io, DriverOptions(device_id="m", kind=DeviceKind.METER))
    await driver.connect()
    assert (await driver.read(ALL_POLLS))["p_w"] == pytest.approx(-750.0)
    assert max(count for _, count in io.reads) <= 125


# --- meters -------------------------------------------------------------------------------------


async def test_meter_reports_power_energy_voltage_current_and_frequency() -> None:
    image = meter_image(
        p_w=3000.0, f_hz=49.98, e_import_wh=12_345.0, e_export_wh=678.0, u_v=231.5, max_power_w=20_000.0
    )
    driver, _ = driver_for(image, DeviceKind.METER)
    await driver.connect()
    points = await driver.read(ALL_POLLS)
    assert points["p_w"] == pytest.approx(3000.0)  # import into the site stays positive
    assert points["p_l1_w"] == pytest.approx(1000.0)
    assert points["e_import_wh"] == pytest.approx(12_345.0)
    assert points["e_export_wh"] == pytest.approx(678.0)
    assert points["u_l2_v"] == pytest.approx(231.5)
    assert points["i_l3_a"] == pytest.approx(1000.0 / 231.5, abs=0.01)
    assert points["f_hz"] == pytest.approx(49.98)
    assert driver.writable_points == frozenset()
    assert driver.identity["Md"] == "sim-meter"


async def test_float_meter_model_is_read_without_scale_factors() -> None:
    image = meter_image(p_w=-1234.5, f_hz=50.012, float_model=True)
    driver, _ = driver_for(image, DeviceKind.METER)
    points = await driver.read(ALL_POLLS)  # connects on first use
    assert [b.model_id for b in driver.blocks] == [1, 213]
    assert points["p_w"] == pytest.approx(-1234.5)
    assert points["f_hz"] == pytest.approx(50.012, abs=1e-4)


async def test_meter_sign_override_flips_power_and_swaps_energies() -> None:
    image = meter_image(p_w=2000.0, e_import_wh=10.0, e_export_wh=99.0, max_power_w=20_000.0)
    driver, _ = driver_for(image, DeviceKind.METER, sign_power="active")
    points = await driver.read(ALL_POLLS)
    assert points["p_w"] == pytest.approx(-2000.0)
    assert points["e_import_wh"] == pytest.approx(99.0)
    assert points["e_export_wh"] == pytest.approx(10.0)


async def test_scale_factors_apply_and_unimplemented_points_read_none() -> None:
    image = SunSpecImage([(203, {"W_SF": 2, "W": 123_400.0, "Hz_SF": -2, "VAR": 10.0})])
    block = image.blocks[1]
    layout = model_layout(203)
    assert image.registers[block.address + layout["W"].offset] == 1234  # raw register, value = 1234 * 10**2
    image.registers[block.address + layout["VAR_SF"].offset] = 0x8000  # scale factor not implemented
    driver, _ = driver_for(image, DeviceKind.METER)
    points = await driver.read(ALL_POLLS)
    assert points["p_w"] == pytest.approx(123_400.0)
    assert points["f_hz"] is None  # Hz = 0x8000
    assert points["q_var"] is None  # value present but its scale factor is 0x8000
    assert points["e_import_wh"] is None  # acc32 0 = not accumulated


async def test_fast_poll_reads_only_fast_points() -> None:
    driver, io = driver_for(meter_image(p_w=10.0, max_power_w=20_000.0), DeviceKind.METER)
    await driver.connect()
    io.reads.clear()
    points = await driver.read(frozenset({PollClass.FAST}))
    assert set(points) == {"p_w", "f_hz"}
    assert len(io.reads) == 1


# --- PV inverters -------------------------------------------------------------------------------


async def test_pv_inverter_production_reads_negative_with_rating_energy_and_state() -> None:
    image = pv_inverter_image(rated_w=8000.0, p_w=-3000.0, e_total_wh=5_000_000.0, f_hz=50.01)
    driver, _ = driver_for(image, DeviceKind.PV_INVERTER)
    points = await driver.read(ALL_POLLS)
    assert points["p_w"] == pytest.approx(-3000.0)
    assert points["rated_p_w"] == pytest.approx(8000.0)
    assert points["e_total_wh"] == pytest.approx(5_000_000.0)
    assert points["state"] == 2  # SunSpec St 4 (MPPT) -> running
    assert points["f_hz"] == pytest.approx(50.01)
    assert points["p_limit_pct"] == 1.0  # limit disabled
    assert driver.writable_points == frozenset({"p_limit_pct", "p_limit_w"})


async def test_pv_curtailment_through_model_123_sets_timer_limit_and_enable() -> None:
    image = pv_inverter_image(rated_w=8000.0, p_w=-5000.0, control_models=(123,))
    driver, io = driver_for(image, DeviceKind.PV_INVERTER)
    await driver.connect()
    assert driver.control_paths["p_limit_pct"] == "123.WMaxLimPct"
    await driver.write({"p_limit_w": 2000.0})
    assert written_points(io, image, 123) == [
        {"WMaxLimPct_RvrtTms": 60},
        {"WMaxLimPct": 250},  # 25.0 % with WMaxLimPct_SF = -1
        {"WMaxLim_Ena": 1},
    ]
    sync_device_writes(io, image)
    assert image.controls().p_limit_fraction == pytest.approx(0.25)
    points = await driver.read(ALL_POLLS)
    assert points["p_limit_pct"] == pytest.approx(0.25)
    assert points["p_limit_w"] == pytest.approx(2000.0)


async def test_pv_curtailment_prefers_model_704_when_present() -> None:
    image = pv_inverter_image(rated_w=10_000.0, control_models=(123, 704))
    driver, io = driver_for(image, DeviceKind.PV_INVERTER, revert_timeout_s=15.0)
    await driver.connect()
    await driver.write({"p_limit_pct": 0.6})
    assert written_points(io, image, 123) == []
    assert written_points(io, image, 704) == [
        {"WMaxLimPctEnaRvrt": 0, "WMaxLimPctRvrtTms": 15},
        {"WMaxLimPctEna": 1, "WMaxLimPct": 600},
    ]
    sync_device_writes(io, image)
    state = image.controls()
    assert (state.source, state.p_limit_fraction, state.revert_timeout_s) == ("704.WMaxLimPct", 0.6, 15.0)


# --- storage inverters (pcs) --------------------------------------------------------------------


async def test_storage_inverter_reports_discharge_as_negative_with_soc_limits_and_state() -> None:
    image = storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0, p_w=-2000.0, soc=0.63)
    driver, _ = driver_for(image, DeviceKind.PCS)
    points = await driver.read(ALL_POLLS)
    assert points["p_w"] == pytest.approx(-2000.0)
    assert points["soc"] == pytest.approx(0.63)
    assert points["rated_p_w"] == pytest.approx(5000.0)
    assert points["p_max_charge_w"] == pytest.approx(5000.0)
    assert points["p_max_discharge_w"] == pytest.approx(5000.0)
    assert points["state"] == 2  # 701 InvSt RUNNING
    assert points["p_set_w"] is None  # no setpoint active
    assert driver.writable_points == frozenset({"p_set_w"})


async def test_power_sign_override_for_a_device_that_reports_passive_power() -> None:
    image = storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0, p_w=-2000.0)
    driver, _ = driver_for(image, DeviceKind.PCS, sign_power="passive")
    assert (await driver.read(ALL_POLLS))["p_w"] == pytest.approx(2000.0)


async def test_storage_setpoint_through_model_704_writes_timer_then_enable_mode_and_watts() -> None:
    image = storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0)
    driver, io = driver_for(image, DeviceKind.PCS)
    await driver.connect()
    assert driver.control_paths["p_set_w"] == "704.WSet"
    await driver.write({"p_set_w": 3000.0})  # charge 3 kW
    assert written_points(io, image, 704) == [
        {"WSetEnaRvrt": 0, "WSetRvrtTms": 60},
        {"WSetEna": 1, "WSetMod": 1, "WSet": -3000},  # SunSpec: negative = absorbing; WSet_SF = 0
    ]
    sync_device_writes(io, image)
    state = image.controls()
    assert (state.p_set_w, state.revert_timeout_s) == (3000.0, 60.0)
    assert (await driver.read(ALL_POLLS))["p_set_w"] == pytest.approx(3000.0)


async def test_storage_setpoint_reasserts_enable_after_the_device_reverted() -> None:
    image = storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0)
    driver, io = driver_for(image, DeviceKind.PCS)
    await driver.write({"p_set_w": -1000.0})
    sync_device_writes(io, image)
    image.revert_controls()  # the device's reversion timer expired
    io.registers.update(image.registers)
    assert image.controls().p_set_w is None
    io.writes.clear()
    await driver.write({"p_set_w": -1000.0})
    sync_device_writes(io, image)
    assert image.controls().p_set_w == pytest.approx(-1000.0)


async def test_setpoint_sign_override_writes_passive_watts() -> None:
    image = storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0)
    driver, io = driver_for(image, DeviceKind.PCS, sign_setpoint="passive")
    await driver.write({"p_set_w": 1500.0})
    assert written_points(io, image, 704)[-1]["WSet"] == 1500


async def test_storage_setpoint_through_model_124_holds_power_with_both_rate_limits() -> None:
    image = storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0, control_models=(124,))
    driver, io = driver_for(image, DeviceKind.PCS, revert_timeout_s=30.0)
    await driver.connect()
    assert driver.control_paths["p_set_w"] == "124.InOutWRte"
    await driver.write({"p_set_w": -2500.0})  # discharge 2.5 kW = 50 % of WChaMax
    assert written_points(io, image, 124) == [
        {"InOutWRte_RvrtTms": 30},
        {"OutWRte": 5000, "InWRte": -5000},  # +50.00 % / -50.00 % with InOutWRte_SF = -2
        {"StorCtl_Mod": 3},
    ]
    sync_device_writes(io, image)
    state = image.controls()
    assert (state.p_min_w, state.p_max_w, state.p_set_w) == (-2500.0, -2500.0, -2500.0)
    assert state.revert_timeout_s == 30.0


async def test_storage_setpoint_beyond_wchamax_is_refused() -> None:
    image = storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0, control_models=(124,))
    driver, io = driver_for(image, DeviceKind.PCS)
    with pytest.raises(SunSpecError, match="exceeds model 124 WChaMax"):
        await driver.write({"p_set_w": 6000.0})
    assert io.writes == []


async def test_setpoint_is_refused_when_the_device_has_no_control_model() -> None:
    image = storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0, control_models=())
    driver, io = driver_for(image, DeviceKind.PCS)
    await driver.connect()
    assert driver.writable_points == frozenset()
    with pytest.raises(SunSpecError, match=r"neither model 704 .* nor 124"):
        await driver.write({"p_set_w": 1000.0})
    assert io.writes == []


async def test_read_only_device_refuses_writes() -> None:
    image = storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0)
    driver, io = driver_for(image, DeviceKind.PCS, read_only=True)
    await driver.connect()
    with pytest.raises(ReadOnlyDevice):
        await driver.write({"p_set_w": 1000.0})
    assert io.writes == []


async def test_release_control_clears_the_enable_flags() -> None:
    image = storage_inverter_image(rated_w=5000.0, capacity_wh=10_000.0)
    driver, io = driver_for(image, DeviceKind.PCS)
    await driver.write({"p_set_w": 1000.0})
    await driver.release_control()
    sync_device_writes(io, image)
    assert image.controls().p_set_w is None


# --- batteries (bms) ----------------------------------------------------------------------------


async def test_battery_model_802_gives_soc_soh_voltage_current_and_limits() -> None:
    image = storage_inverter_image(rated_w=7000.0, capacity_wh=14_000.0, p_w=3500.0, soc=0.42, soh=0.97, u_dc_v=500.0)
    driver, _ = driver_for(image, DeviceKind.BMS)
    points = await driver.read(ALL_POLLS)
    assert points["soc"] == pytest.approx(0.42)
    assert points["soh"] == pytest.approx(0.97)
    assert points["u_v"] == pytest.approx(500.0)
    assert points["i_a"] == pytest.approx(7.0, abs=0.01)  # charging: positive in the passive convention
    assert points["i_max_charge_a"] == pytest.approx(14.0, abs=0.01)
    assert points["p_max_discharge_w"] == pytest.approx(7000.0)
    assert points["capacity_wh"] == pytest.approx(14_000.0)
    assert points["alarm"] == 0
    assert driver.writable_points == frozenset()


async def test_discovery_reports_a_silent_device_as_a_timeout() -> None:
    class SilentIO(DictIO):
        async def read(self, function: Function, address: int, count: int) -> list[int]:
            self.reads.append((address, count))
            raise DeviceTimeout(self.name, "no answer")

    io = SilentIO({})
    with pytest.raises(DeviceTimeout):
        await discover(io)
    assert [address for address, _ in io.reads] == [40000, 0, 50000]


async def test_discovery_walks_past_a_base_that_times_out() -> None:
    image = meter_image(p_w=1.0, base=0)

    class SlowAt40000(DictIO):
        async def read(self, function: Function, address: int, count: int) -> list[int]:
            if address == 40000:
                raise DeviceTimeout(self.name, "no answer")
            return await super().read(function, address, count)

    blocks = await discover(SlowAt40000(dict(image.registers)))
    assert [b.model_id for b in blocks] == [1, 203]
