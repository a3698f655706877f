"""Exporters: Prometheus metrics (issue 7). Read the state the core decided; never run probes."""
