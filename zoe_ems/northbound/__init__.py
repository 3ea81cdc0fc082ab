"""Northbound VPP link: MQTT client, signed commands, telemetry, DR events, store-and-forward."""
