"""The core: inventory, scheduler, check state, store, daemon and CLI."""
