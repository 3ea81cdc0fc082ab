"""Fuzzing the command path: whatever arrives on the cmd topic, handling never raises, every message
gets exactly one ack, and nothing unsigned ever reaches the control inputs."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nb_fuzz_strategies import json_values, payloads
from nb_helpers import KEY, site_config

from zoe_ems.config.northbound import ApprovalConfig
from zoe_ems.control.inputs import ControlInputs
from zoe_ems.northbound.approvals import ApprovalStore
from zoe_ems.northbound.commands import CommandProcessor
from zoe_ems.northbound.dr import DrManager
from zoe_ems.northbound.frequency_services import FrequencyServiceRegistry
from zoe_ems.northbound.limits import SiteLimits
from zoe_ems.northbound.validation import CommandValidator
from zoe_ems.storage.replay import ReplayCache

STATUSES = {"accepted", "rejected", "pending_approval", "expired", "superseded", "completed"}


class MemoryEmitter:
    def __init__(self) -> None:
        self.acks: list[tuple[str | None, str, str | None]] = []
        self.events: list[str] = []

    def ack(self, command_id: str | None, status: str, *, code: str | None = None, reason: str = "") -> None:
        self.acks.append((command_id, status, code))

    def event(self, name: str, severity: str, message: str, details: dict[str, Any] | None = None) -> None:
        self.events.append(name)

    def response(self, message_type: str, data: dict[str, Any]) -> None:
        pass


class Harness:
    def __init__(self, directory: Path) -> None:
        config = site_config(port=1883, key_file=directory / "k", allow_remote_mode_change=True)
        self.inputs = ControlInputs()
        self.emitter = MemoryEmitter()
        self.replay = ReplayCache(directory / "db")
        self.approvals = ApprovalStore(directory / "db")
        self.processor = CommandProcessor(
            validator=CommandValidator(
                key=KEY,
                limits=SiteLimits.from_config(config),
                replay=self.replay,
                allow_mode_change=True,
                clock=time.time,
            ),
            inputs=self.inputs,
            approvals=self.approvals,
            emitter=self.emitter,  # type: ignore[arg-type]
            dr=DrManager(inputs=self.inputs, history=None, timezone="UTC", emitter=self.emitter),  # type: ignore[arg-type]
            registry=FrequencyServiceRegistry(),
            approval=ApprovalConfig(),
            mode="auto",
            clock=time.time,
        )

    def close(self) -> None:
        self.replay.close()
        self.approvals.close()


_HARNESS: Harness | None = None


def harness() -> Harness:
    """One processor (and SQLite files) shared by all examples: state accumulates like in a daemon."""
    global _HARNESS
    if _HARNESS is None:
        _HARNESS = Harness(Path(tempfile.mkdtemp(prefix="nb-fuzz-")))
    return _HARNESS


def snapshot(inputs: ControlInputs) -> tuple[Any, ...]:
    return (inputs.setpoint, tuple(inputs.envelopes), inputs.plan, inputs.dr_event, inputs.prices)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads)
def test_any_payload_is_acked_exactly_once_and_never_crashes_the_command_path(payload: bytes) -> None:
    h = harness()
    before = snapshot(h.inputs)
    acked = len(h.emitter.acks)
    asyncio.run(h.processor.handle(payload))
    new = h.emitter.acks[acked:]
    statuses = [status for _, status, _ in new]
    assert statuses and statuses[-1] in STATUSES
    assert all(code != "internal" for _, _, code in new), new
    if statuses[-1] == "rejected":
        assert snapshot(h.inputs) == before, "a rejected command changed the control inputs"
    asyncio.run(h.processor.tick())


@settings(max_examples=150, deadline=None)
@given(payload=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
def test_unsigned_garbage_never_reaches_the_control_inputs(payload: bytes) -> None:
    h = harness()
    before = snapshot(h.inputs)
    acked = len(h.emitter.acks)
    asyncio.run(h.processor.handle(payload))
    assert [status for _, status, _ in h.emitter.acks[acked:]] == ["rejected"]
    assert snapshot(h.inputs) == before
