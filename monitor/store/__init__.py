"""The store: SQLAlchemy 2.x (async), SQLite by default, PostgreSQL by URL."""
