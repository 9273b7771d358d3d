"""Users, and reads of the telemetry and audit-log tables."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.records import AuditRecord, TelemetryRecord, UserRecord, utcnow
from storage.sql.dialect import insert_ignoring_duplicates
from storage.sql.mapping import audit_record, telemetry_record, user_record
from storage.sql.server_state import claim_value
from storage.sql.tables import AuditLog, TelemetryEvent, User, table_of

# The `server_state` row that the first registrant claims (dev profile): whoever inserts it
# becomes admin, so two racing first registrations make exactly one admin on every backend.
FIRST_ADMIN_CLAIM = "first_admin"


async def _first_user_role(conn: AsyncConnection, user_name: str) -> str:
    """`admin` when the database has no user yet and this transaction wins the first-admin
    claim, else `user`."""
    if (await conn.execute(select(func.count()).select_from(User))).scalar_one():
        return "user"
    claim = f"{user_name}:{uuid.uuid4().hex}"
    return "admin" if await claim_value(conn, FIRST_ADMIN_CLAIM, claim) == claim else "user"


class SqlUsers:
    """Users and event reads."""

    engine: AsyncEngine

    async def ensure_user(self, user_name: str, role: str, password_hash: str) -> UserRecord:
        """The user with this name, created if missing."""
        values = {
            "user_name": user_name,
            "role": role,
            "password_hash": password_hash,
            "create_time": utcnow(),
        }
        async with self.engine.begin() as conn:
            stmt = insert_ignoring_duplicates(conn.dialect.name, table_of(User))
            await conn.execute(stmt, [values])
            row = (
                await conn.execute(select(table_of(User)).where(User.user_name == user_name))
            ).one()
        return user_record(row)

    async def create_user(
        self, user_name: str, password_hash: str, role: str | None = None
    ) -> UserRecord | None:
        """A new user, or None when the name is taken. `role` None means: `admin` for the first
        user of the database, `user` after that; atomic (the first-admin claim in
        `server_state`): concurrent first registrations make one admin."""
        try:
            async with self.engine.begin() as conn:
                if role is None:
                    role = await _first_user_role(conn, user_name)
                values = {
                    "user_name": user_name,
                    "role": role,
                    "password_hash": password_hash,
                    "create_time": utcnow(),
                }
                await conn.execute(table_of(User).insert().values(values))
                by_name = select(table_of(User)).where(User.user_name == user_name)
                row = (await conn.execute(by_name)).one()
        except IntegrityError:
            return None
        return user_record(row)

    async def get_user(self, user_id: int) -> UserRecord | None:
        """The user with this id, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(table_of(User)).where(User.id == user_id))).first()
        return None if row is None else user_record(row)

    async def get_user_by_name(self, user_name: str) -> UserRecord | None:
        """The user with this name, or None (login)."""
        stmt = select(table_of(User)).where(User.user_name == user_name)
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else user_record(row)

    async def list_telemetry(self, event_type: str, limit: int = 100) -> list[TelemetryRecord]:
        """The newest `limit` events of a type, newest first."""
        stmt = (
            select(table_of(TelemetryEvent))
            .where(TelemetryEvent.event_type == event_type)
            .order_by(TelemetryEvent.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [telemetry_record(r) for r in await conn.execute(stmt)]

    async def list_audit_log(self, user_id: int, limit: int = 100) -> list[AuditRecord]:
        """A user's newest `limit` audit-log entries, newest first."""
        stmt = (
            select(table_of(AuditLog))
            .where(AuditLog.user_id == user_id)
            .order_by(AuditLog.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [audit_record(r) for r in await conn.execute(stmt)]
