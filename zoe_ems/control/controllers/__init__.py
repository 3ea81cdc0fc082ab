"""Controllers: one small class per strategy, each proposing bounds and preferences with a priority."""

from zoe_ems.control.controllers.backup_reserve import BackupReserve
from zoe_ems.control.controllers.base import Context, Controller
from zoe_ems.control.controllers.dr_event import DrEvent
from zoe_ems.control.controllers.ev_charging import EvCharging
from zoe_ems.control.controllers.export_limit import ExportLimit
from zoe_ems.control.controllers.load_limit import LoadLimit
from zoe_ems.control.controllers.manual import ManualSetpoint
from zoe_ems.control.controllers.peak_shaving import PeakShaving
from zoe_ems.control.controllers.schedule import ScheduleFollower
from zoe_ems.control.controllers.self_consumption import SelfConsumption
from zoe_ems.control.controllers.sg_ready import SgReady

__all__ = [
    "BackupReserve",
    "Context",
    "Controller",
    "DrEvent",
    "EvCharging",
    "ExportLimit",
    "LoadLimit",
    "ManualSetpoint",
    "PeakShaving",
    "ScheduleFollower",
    "SelfConsumption",
    "SgReady",
]
