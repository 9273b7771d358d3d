"""SQL repository: every query the API makes, each a small async method.

Writes come in batches from the storage actor (`bulk_write`): one transaction, one statement per
table. Reads are single statements. The class holds no state besides its engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, select, text, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.records import (
    FlowRecord,
    MessageRecord,
    MessageRow,
    SessionRecord,
    UserRecord,
    utcnow,
)
from storage.tables import Base, ChatMessage, Flow, MessageSession, User, table_of

# Categories that form a model's conversational context (questions and final answers).
CONTEXT_CATEGORIES = ("question", "answer")


def _insert_ignoring_duplicates(conn: AsyncConnection, table: Table, key: str) -> Any:
    """An INSERT that skips rows whose unique `key` already exists (idempotent retries)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(table)
        return stmt.on_duplicate_key_update({key: stmt.inserted[key]})
    raise ValueError(f"unsupported dialect {dialect}")


def _message_values(record: MessageRecord) -> dict[str, Any]:
    now = utcnow()
    return {
        "row_key": record.row_key,
        "client_msg_id": record.client_msg_id,
        "is_bot": record.is_bot,
        "message": record.message,
        "type": record.type,
        "category": record.category,
        "intermediate_steps": record.intermediate_steps,
        "files": record.files,
        "extra": record.extra,
        "flow_id": record.flow_id,
        "chat_id": record.chat_id,
        "user_id": record.user_id,
        "source": record.source,
        "remark": record.remark,
        "liked": 0,
        "copied": 0,
        "solved": 0,
        "sensitive_status": 1,
        "create_time": now,
        "update_time": now,
    }


def _session_values(record: SessionRecord) -> dict[str, Any]:
    now = utcnow()
    return {
        "chat_id": record.chat_id,
        "name": record.name,
        "flow_id": record.flow_id,
        "flow_type": record.flow_type,
        "flow_name": record.flow_name,
        "flow_description": record.flow_description,
        "flow_logo": record.flow_logo,
        "user_id": record.user_id,
        "is_delete": False,
        "like": 0,
        "dislike": 0,
        "copied": 0,
        "sensitive_status": 1,
        "create_time": now,
        "update_time": now,
    }


def _message_row(row: Row[Any, *tuple[Any, ...]]) -> MessageRow:
    m = row._mapping
    return MessageRow(
        id=m["id"],
        is_bot=bool(m["is_bot"]),
        message=m["message"],
        type=m["type"],
        category=m["category"],
        intermediate_steps=m["intermediate_steps"],
        files=m["files"],
        extra=m["extra"],
        flow_id=m["flow_id"],
        chat_id=m["chat_id"],
        user_id=m["user_id"],
        liked=m["liked"],
        copied=m["copied"],
        solved=m["solved"],
        sensitive_status=m["sensitive_status"],
        source=m["source"],
        remark=m["remark"],
        create_time=m["create_time"],
        update_time=m["update_time"],
        user_name=m.get("user_name"),
        flow_name=m.get("flow_name"),
    )


def _flow_record(row: Row[Any]) -> FlowRecord:
    m = row._mapping
    return FlowRecord(
        id=m["id"],
        name=m["name"],
        status=m["status"],
        version=m["version"],
        data=m["data"],
        user_id=m["user_id"],
        description=m["description"],
        logo=m["logo"],
        is_public=bool(m["is_public"]),
        create_time=m["create_time"],
        update_time=m["update_time"],
    )


_MESSAGE_COLUMNS = [c for c in table_of(ChatMessage).c if c.name not in ("row_key", "comment")]


class SqlRepository:
    """All SQL of raychat. Safe to share across coroutines (each call takes its own connection)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_schema(self) -> None:
        """Create missing tables (development and tests; production uses migrations)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def ping(self) -> None:
        """Raise if the database cannot answer `SELECT 1`."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def bulk_write(
        self, messages: Sequence[MessageRecord], sessions: Sequence[SessionRecord]
    ) -> dict[str, int]:
        """Insert sessions and messages in one transaction; return `row_key -> id` for messages.

        Idempotent: rows whose key already exists are skipped and their existing id returned.
        Statements: at most one per table plus one id read-back and one session touch.
        """
        async with self.engine.begin() as conn:
            if sessions:
                stmt = _insert_ignoring_duplicates(conn, table_of(MessageSession), "chat_id")
                await conn.execute(stmt, [_session_values(s) for s in _unique_sessions(sessions)])
            if not messages:
                return {}
            stmt = _insert_ignoring_duplicates(conn, table_of(ChatMessage), "row_key")
            await conn.execute(stmt, [_message_values(m) for m in messages])
            keys = [m.row_key for m in messages]
            result = await conn.execute(
                select(ChatMessage.row_key, ChatMessage.id).where(ChatMessage.row_key.in_(keys))
            )
            ids = {row.row_key: row.id for row in result}
            await conn.execute(
                update(MessageSession)
                .where(MessageSession.chat_id.in_({m.chat_id for m in messages}))
                .values(update_time=utcnow())
            )
            return ids

    async def history(
        self, chat_id: str, flow_id: str, before_id: int | None, limit: int
    ) -> list[MessageRow]:
        """A page of a chat's messages with `id < before_id`, newest first, with user/flow names."""
        stmt = (
            select(*_MESSAGE_COLUMNS, User.user_name, MessageSession.flow_name)
            .outerjoin(User, User.id == ChatMessage.user_id)
            .outerjoin(MessageSession, MessageSession.chat_id == ChatMessage.chat_id)
            .where(ChatMessage.chat_id == chat_id, ChatMessage.flow_id == flow_id)
            .order_by(ChatMessage.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            stmt = stmt.where(ChatMessage.id < before_id)
        async with self.engine.connect() as conn:
            return [_message_row(r) for r in await conn.execute(stmt)]

    async def recent_context(self, chat_id: str, limit: int) -> list[MessageRow]:
        """The newest `limit` questions/answers of a chat, returned oldest first (model context)."""
        stmt = (
            select(*_MESSAGE_COLUMNS)
            .where(
                ChatMessage.chat_id == chat_id,
                ChatMessage.category.in_(CONTEXT_CATEGORIES),
            )
            .order_by(ChatMessage.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = [_message_row(r) for r in await conn.execute(stmt)]
        rows.reverse()
        return rows

    async def session_owner(self, chat_id: str) -> tuple[int | None, str] | None:
        """`(user_id, flow_id)` of a chat, or None when it does not exist."""
        stmt = select(MessageSession.user_id, MessageSession.flow_id).where(
            MessageSession.chat_id == chat_id
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else (row.user_id, row.flow_id)

    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        """The live (not deleted) flow with this id."""
        stmt = select(table_of(Flow)).where(Flow.id == flow_id, Flow.is_delete.is_(False))
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _flow_record(row)

    async def put_flow(self, flow: FlowRecord) -> None:
        """Insert or replace a flow (used by the demo bootstrap and the app registry)."""
        values = {
            "id": flow.id,
            "name": flow.name,
            "description": flow.description,
            "logo": flow.logo,
            "status": flow.status,
            "version": flow.version,
            "data": flow.data,
            "user_id": flow.user_id,
            "is_public": flow.is_public,
            "is_delete": False,
            "create_time": flow.create_time,
            "update_time": flow.update_time,
        }
        async with self.engine.begin() as conn:
            await conn.execute(table_of(Flow).delete().where(Flow.id == flow.id))
            await conn.execute(table_of(Flow).insert().values(values))

    async def ensure_user(self, user_name: str, role: str, password_hash: str) -> UserRecord:
        """The user with this name, created if missing."""
        async with self.engine.begin() as conn:
            stmt = _insert_ignoring_duplicates(conn, table_of(User), "user_name")
            await conn.execute(
                stmt,
                [{"user_name": user_name, "role": role, "password_hash": password_hash}],
            )
            row = (
                await conn.execute(select(table_of(User)).where(User.user_name == user_name))
            ).one()
        return UserRecord(
            id=row.id, user_name=row.user_name, role=row.role, password_hash=row.password_hash
        )

    async def get_user(self, user_id: int) -> UserRecord | None:
        """The user with this id, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(table_of(User)).where(User.id == user_id))).first()
        if row is None:
            return None
        return UserRecord(
            id=row.id, user_name=row.user_name, role=row.role, password_hash=row.password_hash
        )

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()


def _unique_sessions(sessions: Iterable[SessionRecord]) -> list[SessionRecord]:
    # One multi-row insert must not carry the same primary key twice (PostgreSQL refuses it).
    return list({s.chat_id: s for s in sessions}.values())
