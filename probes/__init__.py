"""Protocol probes.  They know protocols and nothing else: no state, no tickets.

Import `probes.registry.PROBES` for the kinds, `probes.result` for the result shape.
"""
