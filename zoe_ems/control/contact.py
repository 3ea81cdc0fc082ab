"""The external load-limit contact (§14a EnWG control box, ripple-control receiver) as a control input.

Reads the configured ``digital_io`` point from the cycle's snapshot and turns it into a ``LoadLimitInput``; a
contact that cannot be read raises an alarm and, by default, limits (fail safe). Never writes devices.
"""

from __future__ import annotations

from dataclasses import replace

from zoe_ems.config.control import LoadLimitContactConfig
from zoe_ems.control.inputs import InputsView, LoadLimitInput
from zoe_ems.control.types import Alarm, Severity
from zoe_ems.site.points import Snapshot


class LoadLimitContact:
    """Evaluates the contact each cycle and merges it into the inputs."""

    def __init__(self, config: LoadLimitContactConfig) -> None:
        self._cfg = config

    def apply(self, snapshot: Snapshot, inputs: InputsView, alarms: list[Alarm]) -> InputsView:
        """``inputs`` with the contact's limit added (the stricter of it and any other load limit)."""
        cfg = self._cfg
        device = snapshot.devices.get(cfg.device)
        value = device.value(cfg.point) if device is not None else None
        source = f"contact {cfg.device}.{cfg.point}"
        if value is None:
            limiting = cfg.on_stale == "limit"
            alarms.append(
                Alarm(
                    code="LOAD_LIMIT_CONTACT_UNKNOWN",
                    severity=Severity.WARNING,
                    message=f"load-limit {source} cannot be read: "
                    + ("controllable loads limited (fail safe)" if limiting else "ignored (on_stale: ignore)"),
                    device_id=cfg.device,
                )
            )
            source += " unreadable"
        else:
            closed = value >= 0.5
            limiting = closed == (cfg.active_when == "closed")
            source += f" {'closed' if closed else 'open'}"
        if not limiting:
            return inputs
        limit = LoadLimitInput(max_controllable_load_w=cfg.limit_kw * 1000.0, source=source)
        current = inputs.load_limit
        if current is not None and current.max_controllable_load_w <= limit.max_controllable_load_w:
            return inputs
        return replace(inputs, load_limit=limit)
