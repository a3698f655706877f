"""Alerts: who is on duty, routing and escalation, channels, the outbox, MQTT.

Reads what `monitor` decided (ticket events, the store) and delivers it."""
