"""The SQLAlchemy repository: engine, tables, one module per entity."""

from storage.sql.engine import make_engine, to_async_url
from storage.sql.repository import SqlRepository

__all__ = ["SqlRepository", "make_engine", "to_async_url"]
