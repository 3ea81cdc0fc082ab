"""Pydantic models of every northbound message (protocol v1): commands and their bodies, acks,
status, telemetry, response packets, DR reports and events.

These models are the schema (exported to ``docs/schemas/``). They validate shape and local
consistency only; checks against the site's limits, the clock and the signature live in
``validation.py``. Nothing here performs I/O.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

CommandType = Literal["setpoint", "limits", "dr_event", "mode", "schedule", "prices", "frequency_service"]
COMMAND_TYPES: tuple[str, ...] = ("setpoint", "limits", "dr_event", "mode", "schedule", "prices", "frequency_service")
AckStatus = Literal["accepted", "rejected", "pending_approval", "expired", "superseded", "completed"]
Mode = Literal["auto", "semi_auto", "manual"]

_Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
_Kw = Annotated[float, Field(description="kW, passive sign convention")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class _Window(_Model):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _start_before_end(self) -> Any:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


# ---- command bodies ---------------------------------------------------------------------------------------


class SetpointBody(_Model):
    """Hold the battery fleet or the grid connection point at ``p_kw`` until ``valid_until``."""

    target: Literal["battery", "grid"]
    p_kw: _Kw = Field(description="battery: + charge / - discharge; grid: + import / - export")


class LimitsBody(_Window):
    """A dynamic operating envelope at the connection point between ``start`` and ``end``."""

    import_limit_kw: float | None = Field(default=None, ge=0)
    export_limit_kw: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_limit(self) -> LimitsBody:
        if self.import_limit_kw is None and self.export_limit_kw is None:
            raise ValueError("give import_limit_kw, export_limit_kw or both")
        return self


class DrEventBody(_Window):
    """Reduce grid import by ``target_reduction_kw`` below the baseline during the event."""

    event_id: _Id
    target_reduction_kw: float = Field(gt=0)
    baseline: Literal["prior_15min", "high_x_of_y", "fixed"] = "prior_15min"
    baseline_kw: float | None = Field(default=None, description="required for baseline 'fixed'")
    x: int = Field(default=5, ge=1, le=30, description="high_x_of_y: number of highest days averaged")
    y: int = Field(default=10, ge=1, le=30, description="high_x_of_y: number of similar previous days")
    same_day_adjustment: bool = Field(default=True, description="high_x_of_y: additive adjustment, capped at 20 %")

    @model_validator(mode="after")
    def _baseline_params(self) -> DrEventBody:
        if self.baseline == "fixed" and self.baseline_kw is None:
            raise ValueError("baseline 'fixed' needs baseline_kw")
        if self.x > self.y:
            raise ValueError(f"x ({self.x}) must not exceed y ({self.y})")
        return self


class ModeBody(_Model):
    """Change the operating mode (only when the site file allows remote mode changes)."""

    mode: Mode


class ScheduleBody(_Model):
    """A battery plan: ``battery_p_kw[i]`` applies from ``start + i*step_s`` for ``step_s`` seconds."""

    start: AwareDatetime
    step_s: float = Field(ge=1, le=86400)
    battery_p_kw: list[float] = Field(min_length=1, max_length=10000)


class PricesBody(_Model):
    """Energy prices per interval, for the optimizer."""

    start: AwareDatetime
    step_s: float = Field(ge=60, le=86400)
    buy_eur_per_kwh: list[float] = Field(min_length=1, max_length=10000)
    sell_eur_per_kwh: list[float] = Field(min_length=1, max_length=10000)

    @model_validator(mode="after")
    def _same_length(self) -> PricesBody:
        if len(self.buy_eur_per_kwh) != len(self.sell_eur_per_kwh):
            raise ValueError(
                f"buy_eur_per_kwh has {len(self.buy_eur_per_kwh)} values but sell_eur_per_kwh has "
                f"{len(self.sell_eur_per_kwh)}"
            )
        return self


class FrequencyServiceBody(_Window):
    """Enable (or disable) a frequency service for a window, with its parameters."""

    service: Literal["ffr", "fcr", "dc"]
    enabled: bool
    power_kw: float = Field(ge=0, description="contracted power of the service")
    trigger_hz: float | None = Field(default=None, description="ffr: under-frequency trigger (49.5, 49.6 or 49.7)")
    over_trigger_hz: float | None = Field(
        default=None,
        description="ffr: also respond to over-frequency by charging, triggered at 50.3, 50.4 or 50.5 Hz (mirror)",
    )
    deadband_hz: float | None = Field(default=None, ge=0, description="fcr / dc: deadband around 50 Hz")
    full_activation_hz: float | None = Field(
        default=None, gt=0, description="fcr / dc: deviation at which full power is delivered"
    )
    min_duration_s: float | None = Field(default=None, gt=0, description="ffr: minimum support duration")


# ---- command envelopes -------------------------------------------------------------------------------------


class _CommandBase(_Model):
    v: Literal[1]
    id: _Id
    issued_at: AwareDatetime
    valid_until: AwareDatetime
    sig: str | None = Field(default=None, description="lowercase hex HMAC-SHA256 of the canonical form")


class SetpointCommand(_CommandBase):
    type: Literal["setpoint"]
    body: SetpointBody


class LimitsCommand(_CommandBase):
    type: Literal["limits"]
    body: LimitsBody


class DrEventCommand(_CommandBase):
    type: Literal["dr_event"]
    body: DrEventBody


class ModeCommand(_CommandBase):
    type: Literal["mode"]
    body: ModeBody


class ScheduleCommand(_CommandBase):
    type: Literal["schedule"]
    body: ScheduleBody


class PricesCommand(_CommandBase):
    type: Literal["prices"]
    body: PricesBody


class FrequencyServiceCommand(_CommandBase):
    type: Literal["frequency_service"]
    body: FrequencyServiceBody


Command = Annotated[
    SetpointCommand
    | LimitsCommand
    | DrEventCommand
    | ModeCommand
    | ScheduleCommand
    | PricesCommand
    | FrequencyServiceCommand,
    Field(discriminator="type"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


# ---- outgoing messages -------------------------------------------------------------------------------------


class _Outgoing(_Model):
    v: Literal[1] = 1
    seq: int = Field(ge=1, description="per topic, +1 per message, survives restarts")
    ts: str = Field(description="ISO 8601 UTC with Z; original time of the message")
    historical: bool = Field(default=False, description="true when sent late from the store-and-forward backlog")
    sig: str = Field(description="lowercase hex HMAC-SHA256 of the canonical form")


class Ack(_Outgoing):
    """One per command and state change of a command, on ``{p}/{site}/ack``."""

    id: str | None = Field(description="command id; null when the command could not be parsed")
    status: AckStatus
    code: str | None = Field(default=None, description="machine-readable reason, e.g. 'signature', 'replay'")
    reason: str = ""


class StatusMessage(_Model):
    """Retained on ``{p}/{site}/status``; also the MQTT will with state 'offline'."""

    v: Literal[1] = 1
    state: Literal["online", "offline"]
    ts: str
    site_id: str | None = None
    sig: str | None = None


class TelemetryValues(_Model):
    grid_kw: float | None = None
    battery_kw: float | None = None
    pv_kw: float | None = None
    load_kw: float | None = None
    ev_kw: float | None = None
    soc: float | None = Field(default=None, description="fraction 0..1")
    frequency_hz: float | None = None
    available_charge_kw: float | None = None
    available_discharge_kw: float | None = None
    frequency_available: bool | None = Field(
        default=None, description="armed frequency services can be held for their full duration (null: none armed)"
    )
    frequency_reason: str | None = Field(default=None, description="why not, when frequency_available is false")
    mode: Mode
    active_command_id: str | None = None
    response_status: Literal["idle", "responding", "pending_approval"] = "idle"


class TelemetryMessage(_Outgoing):
    """Realtime packet on ``{p}/{site}/telemetry`` every ``telemetry_interval_s``."""

    site_id: str
    data: TelemetryValues


class ResponseValues(_Model):
    kind: Literal["dispatch", "dr_event"]
    command_id: str
    event_id: str | None = None
    baseline_kw: float | None = Field(default=None, description="dr_event: grid import baseline")
    current_kw: float | None = Field(default=None, description="dr_event: grid; dispatch: the setpoint target")
    target_kw: float | None = Field(default=None, description="dispatch: setpoint; dr_event: baseline - reduction")
    target_reduction_kw: float | None = None
    actual_reduction_kw: float | None = None
    achievement_rate: float | None = Field(default=None, description="actual / target reduction (dispatch: 1 - error)")
    actions: list[str] = Field(default_factory=list)


class ResponseMessage(_Outgoing):
    """Response packet on ``{p}/{site}/response`` every 5 s while a dispatch or DR event is active."""

    type: Literal["response"] = "response"
    site_id: str
    data: ResponseValues


class DrReportValues(_Model):
    event_id: str
    command_id: str
    start: str
    end: str
    baseline_kw: float
    baseline_method: str
    target_reduction_kw: float
    average_reduction_kw: float
    energy_delivered_kwh: float
    target_energy_kwh: float
    achievement_rate: float = Field(description="energy delivered / target energy")
    samples: int
    end_reason: str = Field(description="completed | expired | superseded")


class DrReportMessage(_Outgoing):
    """End-of-event report on ``{p}/{site}/response``."""

    type: Literal["dr_event_report"] = "dr_event_report"
    site_id: str
    data: DrReportValues


class EventMessage(_Outgoing):
    """Alarms, security events and state changes on ``{p}/{site}/events``."""

    site_id: str
    event: str = Field(description="e.g. security.bad_signature, outbox.dropped, mode.changed")
    severity: Literal["info", "warning", "alarm", "security"]
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


SCHEMA_MODELS: dict[str, Any] = {
    "command": COMMAND_ADAPTER,
    "ack": Ack,
    "status": StatusMessage,
    "telemetry": TelemetryMessage,
    "response": ResponseMessage,
    "dr_event_report": DrReportMessage,
    "event": EventMessage,
}
