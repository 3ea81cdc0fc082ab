"""ZOE-EMS: edge energy-management daemon (config, site state, control, optimizer, northbound, storage, CLI)."""

__version__ = "0.1.0"
