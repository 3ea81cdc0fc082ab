"""Device layer: Modbus transports, register-map engine, YAML device profiles and SunSpec.

Drivers know how to talk to a device and nothing about control.
"""
