"""Faults: classification into levels 1-4, root cause over the parent graph, and the
engine that turns check states into the faults tickets are opened for."""
