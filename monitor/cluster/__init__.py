"""Several daemons, one truth (issue 16): leadership by a PostgreSQL lease with a fencing
epoch (`lease`).  Not yet wired into the daemon."""
