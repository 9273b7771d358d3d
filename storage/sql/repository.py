"""`SqlRepository`: the `Repository` protocol over SQLAlchemy, assembled from one mixin per
concern (`writes`, `messages`, `sessions`, `stats`, `apps`, `users`, `server_state`)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.repository import Repository
from storage.sql.apps import SqlApps
from storage.sql.messages import SqlMessages
from storage.sql.server_state import SqlServerState
from storage.sql.sessions import SqlSessions
from storage.sql.stats import SqlStats
from storage.sql.tables import Base
from storage.sql.users import SqlUsers
from storage.sql.writes import SqlWrites


class SqlRepository(
    SqlWrites, SqlMessages, SqlSessions, SqlStats, SqlApps, SqlUsers, SqlServerState
):
    """All SQL of raychat. Safe to share across coroutines (each call takes its own connection).
    Holds no state besides its engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_schema(self) -> None:
        """Create missing tables without migrations (benchmarks only; use `storage.migrate`)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def ping(self) -> None:
        """Raise if the database cannot answer `SELECT 1`."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()


def _conforms(sql: SqlRepository) -> Repository:
    # Static check (mypy): the SQL repository satisfies the protocol.
    return sql
