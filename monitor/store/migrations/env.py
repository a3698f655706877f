"""Alembic environment: migrations run inside the daemon, on its own connection.

`monitor.store.migrate` passes an open synchronous connection in
``config.attributes["connection"]``; there is no alembic.ini to edit.
"""

from alembic import context

from monitor.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
