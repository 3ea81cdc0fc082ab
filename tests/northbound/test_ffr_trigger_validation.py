"""`frequency_service` orders for FFR name one of the Nordic trigger levels (49.7, 49.6 or 49.5 Hz); anything
else is refused at the range stage with a reason that names ``body.trigger_hz``, before it can reach the
frequency-service registry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nb_helpers import KEY, command, site_config

from zoe_ems.northbound.limits import SiteLimits
from zoe_ems.northbound.signing import signed
from zoe_ems.northbound.timefmt import iso_utc
from zoe_ems.northbound.validation import RANGE, CommandValidator, Rejection, Validated
from zoe_ems.storage.replay import ReplayCache


def ffr_order(trigger_hz: float) -> bytes:
    now = time.time()
    body = {
        "service": "ffr",
        "enabled": True,
        "power_kw": 50.0,
        "trigger_hz": trigger_hz,
        "start": iso_utc(now),
        "end": iso_utc(now + 600),
    }
    return json.dumps(command("frequency_service", body)).encode()


@pytest.fixture
def validator(tmp_path: Path, key_file: Path) -> Iterator[CommandValidator]:
    config = site_config(port=1883, key_file=key_file)
    replay = ReplayCache(tmp_path / "db")
    yield CommandValidator(key=KEY, limits=SiteLimits.from_config(config), replay=replay, clock=time.time)
    replay.close()


@pytest.mark.parametrize("trigger_hz", [49.7, 49.6, 49.5, 49.6000000001])
async def test_ffr_order_at_a_nordic_trigger_level_is_valid(validator: CommandValidator, trigger_hz: float) -> None:
    result = await validator.validate(ffr_order(trigger_hz))
    assert isinstance(result, Validated), result


@pytest.mark.parametrize("trigger_hz", [49.8, 49.75, 49.65, 49.55, 49.4, 49.0, 50.3, 50.0])
async def test_ffr_order_at_any_other_trigger_is_out_of_range_and_names_the_field(
    validator: CommandValidator, trigger_hz: float
) -> None:
    result = await validator.validate(ffr_order(trigger_hz))
    assert isinstance(result, Rejection), result
    assert result.code == RANGE
    assert result.reason.startswith(f"body.trigger_hz = {trigger_hz:g} Hz is not an ffr trigger level"), result.reason
    assert "49.7, 49.6, 49.5" in result.reason


async def test_ffr_order_is_checked_as_the_runtime_would_arm_it_on_the_site_settings(
    validator: CommandValidator,
) -> None:
    """Beyond the trigger level, the order is laid over the site file's settings exactly as the runtime does
    (``zoe_ems.frequency.orders``): a support duration no FFR support offers is refused at once, naming the field."""
    message = json.loads(ffr_order(49.6))
    message["body"]["min_duration_s"] = 60.0
    del message["sig"]
    result = await validator.validate(json.dumps(signed(message, KEY)).encode())
    assert isinstance(result, Rejection), result
    assert result.code == RANGE and result.reason.startswith("body.min_duration_s = 60 s"), result.reason
    message["body"]["min_duration_s"] = 5.0
    message["id"] += "-5s"
    assert isinstance(await validator.validate(json.dumps(signed(message, KEY)).encode()), Validated)


def ffr_order_with_mirror(over_trigger_hz: float, service: str = "ffr") -> bytes:
    message = json.loads(ffr_order(49.7))
    message["body"]["over_trigger_hz"] = over_trigger_hz
    message["body"]["service"] = service
    if service != "ffr":
        del message["body"]["trigger_hz"]
    del message["sig"]
    return json.dumps(signed(message, KEY)).encode()


@pytest.mark.parametrize("over_trigger_hz", [50.3, 50.4, 50.5])
async def test_ffr_order_may_arm_the_over_frequency_mirror_at_a_mirror_level(
    validator: CommandValidator, over_trigger_hz: float
) -> None:
    result = await validator.validate(ffr_order_with_mirror(over_trigger_hz))
    assert isinstance(result, Validated), result


@pytest.mark.parametrize("over_trigger_hz", [50.2, 50.35, 50.6, 49.7])
async def test_ffr_mirror_at_any_other_level_is_out_of_range_and_names_the_field(
    validator: CommandValidator, over_trigger_hz: float
) -> None:
    result = await validator.validate(ffr_order_with_mirror(over_trigger_hz))
    assert isinstance(result, Rejection), result
    assert result.code == RANGE
    assert result.reason.startswith(f"body.over_trigger_hz = {over_trigger_hz:g} Hz is not"), result.reason
    assert "50.3, 50.4, 50.5" in result.reason


async def test_an_over_trigger_does_not_apply_to_fcr(validator: CommandValidator) -> None:
    result = await validator.validate(ffr_order_with_mirror(50.3, service="fcr"))
    assert isinstance(result, Rejection) and result.code == RANGE, result
    assert "body.over_trigger_hz" in result.reason
