"""Real peers the tests start: servers that run as their own processes."""
