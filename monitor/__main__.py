"""``python -m monitor`` is the ``monitor`` command."""

import sys

from monitor.cli import main

if __name__ == "__main__":  # (not when a spawned process imports it: `load_apart`)
    sys.exit(main())
