"""SNMP v1/v2c/v3: a fast path for v1/v2c, pysnmp for v3."""
