"""The demo: a simulated site on loopback and the daemon watching it (``make demo``)."""
