"""External inputs to the control loop: VPP setpoints, operating envelopes, plans, DR events, dimming.

Northbound commands and the optimizer write here; controllers read an immutable view each cycle.
Every input carries its own validity window (UTC seconds) and the id of the command that set it,
so expiry is decided in one place. This module never touches devices.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal


@dataclass(frozen=True, kw_only=True)
class SetpointInput:
    """A VPP (or manual) power setpoint for the battery fleet or the grid connection point."""

    target: Literal["battery", "grid"]
    p_w: float
    """Passive convention: battery positive = charge; grid positive = import."""
    valid_until_utc: float
    command_id: str
    valid_from_utc: float = 0.0


@dataclass(frozen=True, kw_only=True)
class EnvelopeInput:
    """A dynamic operating envelope: time-windowed import/export limits at the connection point."""

    import_limit_w: float | None
    export_limit_w: float | None
    start_utc: float
    end_utc: float
    command_id: str


@dataclass(frozen=True, kw_only=True)
class SchedulePlan:
    """A per-interval battery plan (from the optimizer or a `schedule` command)."""

    start_utc: float
    step_s: float
    battery_p_w: tuple[float, ...]
    """Passive convention per interval, for the whole battery fleet."""
    source: str
    """``optimizer`` or the command id."""
    soc: tuple[float, ...] = ()
    """Planned SOC at the end of each interval (fraction), when known."""
    grid_p_w: tuple[float, ...] = ()
    """Planned grid power per interval, when known."""
    soc_from_utc: float | None = None
    """When the SOC trajectory starts: the time the plan's initial SOC was measured, inside the first interval
    (the first interval's power then holds from this time to its end). None = ``start_utc``."""
    soc_initial: float | None = None
    """Fleet SOC at ``soc_from_utc``, when known."""

    @property
    def end_utc(self) -> float:
        return self.start_utc + self.step_s * len(self.battery_p_w)

    def at(self, now_utc: float) -> float | None:
        """Battery power for the interval containing ``now_utc``; None outside the plan."""
        if not self.battery_p_w or now_utc < self.start_utc or now_utc >= self.end_utc:
            return None
        return self.battery_p_w[int((now_utc - self.start_utc) // self.step_s)]


@dataclass(frozen=True, kw_only=True)
class DrEventInput:
    """A demand-response event: reduce grid import by ``target_reduction_w`` below ``baseline_w``."""

    event_id: str
    start_utc: float
    end_utc: float
    target_reduction_w: float
    baseline_w: float
    command_id: str


@dataclass(frozen=True, kw_only=True)
class LoadLimitInput:
    """External cap on controllable loads (German §14a dimming, ripple-control contact)."""

    max_controllable_load_w: float
    source: str
    valid_until_utc: float = float("inf")


@dataclass(frozen=True, kw_only=True)
class PriceInput:
    """Energy prices per interval (from a `prices` command or a tariff source)."""

    start_utc: float
    step_s: float
    buy_eur_per_kwh: tuple[float, ...]
    sell_eur_per_kwh: tuple[float, ...] = ()
    source: str = ""

    @property
    def end_utc(self) -> float:
        return self.start_utc + self.step_s * len(self.buy_eur_per_kwh)

    def buy_at(self, now_utc: float) -> float | None:
        """Buy price for the interval containing ``now_utc``; None outside the series."""
        if not self.buy_eur_per_kwh or now_utc < self.start_utc or now_utc >= self.end_utc:
            return None
        return self.buy_eur_per_kwh[int((now_utc - self.start_utc) // self.step_s)]


@dataclass(frozen=True, kw_only=True)
class InputsView:
    """Immutable view of the inputs active at ``now_utc`` (expired ones removed)."""

    now_utc: float
    setpoint: SetpointInput | None = None
    envelopes: tuple[EnvelopeInput, ...] = ()
    plan: SchedulePlan | None = None
    dr_event: DrEventInput | None = None
    load_limit: LoadLimitInput | None = None
    prices: PriceInput | None = None


@dataclass
class ControlInputs:
    """Mutable holder owned by the daemon; written by northbound/optimizer, read by the control loop."""

    setpoint: SetpointInput | None = None
    envelopes: list[EnvelopeInput] = field(default_factory=list)
    plan: SchedulePlan | None = None
    dr_event: DrEventInput | None = None
    load_limit: LoadLimitInput | None = None
    prices: PriceInput | None = None

    def view(self, now_utc: float) -> InputsView:
        """The inputs active at ``now_utc``; inputs whose window has passed are dropped."""
        if self.setpoint is not None and self.setpoint.valid_until_utc <= now_utc:
            self.setpoint = None
        self.envelopes = [e for e in self.envelopes if e.end_utc > now_utc]
        if self.plan is not None and self.plan.end_utc <= now_utc:
            self.plan = None
        if self.dr_event is not None and self.dr_event.end_utc <= now_utc:
            self.dr_event = None
        if self.load_limit is not None and self.load_limit.valid_until_utc <= now_utc:
            self.load_limit = None
        if self.prices is not None and self.prices.end_utc <= now_utc:
            self.prices = None
        setpoint = self.setpoint if self.setpoint and self.setpoint.valid_from_utc <= now_utc else None
        active_envelopes = tuple(e for e in self.envelopes if e.start_utc <= now_utc)
        dr_event = self.dr_event if self.dr_event and self.dr_event.start_utc <= now_utc else None
        return InputsView(
            now_utc=now_utc,
            setpoint=setpoint,
            envelopes=active_envelopes,
            plan=self.plan,
            dr_event=dr_event,
            load_limit=self.load_limit,
            prices=self.prices,
        )

    def with_plan(self, plan: SchedulePlan) -> None:
        """Replace the current plan."""
        self.plan = replace(plan)
