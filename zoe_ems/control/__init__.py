"""Control layer: control loop, controllers, arbiter and safety envelope."""
