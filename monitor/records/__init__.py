"""The contract's records beside the tickets: the spare parts and loaner log (and, to
come, inspections, routines, patrols and the satisfaction survey)."""
