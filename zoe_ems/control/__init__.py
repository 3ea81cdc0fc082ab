"""Control layer: control engine, controllers, arbiter and safety envelope (pure logic over snapshots)."""

from zoe_ems.control.decision import Decision
from zoe_ems.control.engine import ControlEngine, validate_control_config
from zoe_ems.control.record import AssetRecord, DecisionRecord
from zoe_ems.control.types import Alarm, Bound, Preference, Proposal, Severity, SgRequest

__all__ = [
    "Alarm",
    "AssetRecord",
    "Bound",
    "ControlEngine",
    "Decision",
    "DecisionRecord",
    "Preference",
    "Proposal",
    "Severity",
    "SgRequest",
    "validate_control_config",
]
