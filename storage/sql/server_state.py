"""Server-wide values decided once per database (`server_state`): insert-if-absent, then read
back, so replicas and nodes that race on first start all end up with the winner's value."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.records import utcnow
from storage.sql.dialect import insert_ignoring_duplicates
from storage.sql.tables import ServerState, table_of

# The name of the JWT signing secret generated when the operator sets no RAYCHAT_JWT_SECRET.
JWT_SECRET_NAME = "jwt_secret"


async def claim_value(conn: AsyncConnection, name: str, value: str) -> str | None:
    """Store `value` under `name` unless a value is there already; the stored value as this
    transaction sees it (None only when another transaction's claim is not visible yet, as under
    MySQL's REPEATABLE READ snapshot). The caller won iff the answer equals `value`."""
    stmt = insert_ignoring_duplicates(conn.dialect.name, table_of(ServerState))
    await conn.execute(stmt, [{"name": name, "value": value, "create_time": utcnow()}])
    read = select(ServerState.value).where(ServerState.name == name)
    stored: str | None = (await conn.execute(read)).scalar_one_or_none()
    return stored


class SqlServerState:
    """Server-wide values."""

    engine: AsyncEngine

    async def ensure_server_value(self, name: str, candidate: str) -> str:
        """The value stored under `name`, `candidate` if there was none. Atomic across
        concurrent callers (the primary key decides); every caller gets the same answer."""
        async with self.engine.begin() as conn:
            stored = await claim_value(conn, name, candidate)
        if stored is None:  # a concurrent winner committed outside our snapshot: read again
            async with self.engine.connect() as conn:
                read = select(ServerState.value).where(ServerState.name == name)
                stored = (await conn.execute(read)).scalar_one()
        return stored
