"""Hypothesis strategies for fuzzing the command path (shared by the processor fuzz test and the daemon fuzz
test): raw bytes, arbitrary JSON, envelope-shaped objects, correctly signed envelopes with random bodies and
field mutations, and signed setpoints with arbitrary (finite) powers and validity windows."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import strategies as st
from nb_helpers import KEY, command

from zoe_ems.northbound.signing import signed
from zoe_ems.northbound.timefmt import iso_utc

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
FIELDS = ["v", "id", "type", "issued_at", "valid_until", "body", "sig"]
BODY_KEYS = [
    "target",
    "p_kw",
    "start",
    "end",
    "import_limit_kw",
    "export_limit_kw",
    "event_id",
    "target_reduction_kw",
    "baseline",
    "baseline_kw",
    "mode",
    "step_s",
    "battery_p_kw",
    "buy_eur_per_kwh",
    "sell_eur_per_kwh",
    "service",
    "enabled",
    "power_kw",
    "trigger_hz",
    "x",
    "y",
]
TYPES = ["setpoint", "limits", "dr_event", "mode", "schedule", "prices", "frequency_service", "bogus"]


@st.composite
def mutated_signed_commands(draw: st.DrawFn) -> bytes:
    """Valid-looking envelopes with random bodies and field mutations, correctly signed."""
    now = time.time()
    body = draw(
        st.dictionaries(
            st.sampled_from(BODY_KEYS),
            st.one_of(
                json_values,
                st.sampled_from(["battery", "grid", "auto", "manual", "ffr", "fcr", "prior_15min", "high_x_of_y"]),
                st.just(iso_utc(now + 30)),
                st.lists(st.floats(-200, 200), min_size=1, max_size=5),
                st.floats(-1000, 1000),
            ),
            max_size=8,
        )
    )
    message: dict[str, Any] = command(draw(st.sampled_from(TYPES)), body, key=None)
    for field in draw(st.lists(st.sampled_from(FIELDS[:-1]), max_size=2)):
        message[field] = draw(json_values)
    return json.dumps(signed(message, KEY)).encode()


payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=7).map(lambda d: json.dumps(d).encode()),
    mutated_signed_commands(),
)


@st.composite
def signed_setpoints(draw: st.DrawFn) -> bytes:
    """Authentic setpoints: any finite power, valid or already expired, fresh or skewed issue times."""
    message = command(
        "setpoint",
        {"target": draw(st.sampled_from(["battery", "grid"])), "p_kw": draw(st.floats(-1e6, 1e6))},
        issued_at=time.time() + draw(st.sampled_from([0.0, 0.0, 0.0, -40.0, 40.0])),
        valid_for_s=draw(st.floats(-5.0, 30.0)),
        key=None,
    )
    return json.dumps(signed(message, KEY)).encode()
