"""The group-commit write: every table's rows of one batch in one transaction, one multi-row
statement per table (the message insert itself lives in `storage.sql.message_insert`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.records import (
    AuditRecord,
    MessageRecord,
    SessionClaim,
    SessionRecord,
    TelemetryRecord,
    WriteBatch,
    utcnow,
)
from storage.sql.dialect import chat_id_in, insert_ignoring_duplicates, upsert_touching
from storage.sql.message_insert import insert_messages
from storage.sql.tables import AuditLog, ChatMessage, MessageSession, TelemetryEvent, table_of


def session_values(record: SessionRecord, now: datetime) -> dict[str, Any]:
    """Column values of a new `message_session` row created at `now`."""
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


def _telemetry_values(record: TelemetryRecord) -> dict[str, Any]:
    return {
        "event_key": record.event_key,
        "event_type": record.event_type,
        "user_id": record.user_id,
        "chat_id": record.chat_id,
        "message_id": record.message_id,
        "payload": record.payload,
        "create_time": record.create_time,
    }


def _audit_values(record: AuditRecord) -> dict[str, Any]:
    return {
        "event_key": record.event_key,
        "user_id": record.user_id,
        "action": record.action,
        "object_type": record.object_type,
        "object_id": record.object_id,
        "detail": record.detail,
        "create_time": record.create_time,
    }


class SqlWrites:
    """`bulk_write`: the storage actor's flush; `claim_session`: who owns a chat."""

    engine: AsyncEngine

    async def claim_session(self, record: SessionRecord) -> SessionClaim:
        """Insert the chat's session row unless one exists, then return the row that exists:
        its `user_id` is the chat's owner, decided once by whoever inserted first.

        Insert-or-verify, never read-then-write: the INSERT skips an existing row (ON CONFLICT
        DO NOTHING / OR IGNORE / MySQL's no-op update) and the locking read after it sees the
        winner of any race. One statement for an existing chat, three for a new one.
        """
        async with self.engine.begin() as conn:
            found = await _claim_of(conn, record.chat_id)
            if found is not None:
                return found
            insert = insert_ignoring_duplicates(conn.dialect.name, table_of(MessageSession))
            await conn.execute(insert, [session_values(record, utcnow())])
            claim = await _claim_of(conn, record.chat_id, locking=True)
        assert claim is not None, "a session row inserted or found"
        won = claim.user_id == record.user_id and claim.flow_id == record.flow_id
        return SessionClaim(claim.user_id, claim.flow_id, claim.is_delete, created=won)

    async def bulk_write(self, batch: WriteBatch) -> dict[str, int]:
        """Insert a batch in one transaction; return `row_key -> id` for every message.

        Idempotent: a row whose `row_key` exists is skipped and its existing id returned; a
        question whose `(chat_id, client_msg_id)` exists maps to the existing row's id. Every
        chat that gets a message has its session's `update_time` set to the batch time.
        Statements: one per non-empty table (the session upsert also touches its chats), plus
        one touch for chats of messages that came without their session, plus (MySQL, or when
        a row already existed) one id read-back.
        """
        now = utcnow()
        chats = {m.chat_id for m in batch.messages}
        ids: dict[str, int] = {}
        async with self.engine.begin() as conn:
            touched = (
                await _write_sessions(conn, batch.sessions, chats, now) if batch.sessions else set()
            )
            if batch.messages:
                ids = await _insert_messages(conn, batch.messages, now)
            await _write_events(conn, batch.telemetry, batch.audit)
            if chats - touched:
                await _touch_sessions(conn, chats - touched, now)
        return ids


async def _claim_of(
    conn: AsyncConnection, chat_id: str, locking: bool = False
) -> SessionClaim | None:
    stmt = select(MessageSession.user_id, MessageSession.flow_id, MessageSession.is_delete).where(
        MessageSession.chat_id == chat_id
    )
    if locking:  # a locking read sees a row a concurrent claim committed (MySQL's snapshot not)
        stmt = stmt.with_for_update(read=True)
    row = (await conn.execute(stmt)).first()
    return None if row is None else SessionClaim(row.user_id, row.flow_id, bool(row.is_delete))


async def _write_sessions(
    conn: AsyncConnection, sessions: Sequence[SessionRecord], chats: set[str], now: datetime
) -> set[str]:
    """Create missing sessions; the ones whose chat gets a message in this batch are upserted
    (an existing row only gets `update_time = now`), the others only inserted if missing.
    Returns the chats whose session was touched this way."""
    unique = sorted(_unique_sessions(sessions), key=lambda s: s.chat_id)  # one lock order
    touching = [session_values(s, now) for s in unique if s.chat_id in chats]
    plain = [session_values(s, now) for s in unique if s.chat_id not in chats]
    table = table_of(MessageSession)
    if touching:
        await conn.execute(upsert_touching(conn.dialect.name, table), touching)
    if plain:
        await conn.execute(insert_ignoring_duplicates(conn.dialect.name, table), plain)
    return {row["chat_id"] for row in touching}


async def _write_events(
    conn: AsyncConnection, telemetry: Sequence[TelemetryRecord], audit: Sequence[AuditRecord]
) -> None:
    dialect = conn.dialect.name
    if telemetry:
        events = [_telemetry_values(t) for t in telemetry]
        await conn.execute(insert_ignoring_duplicates(dialect, table_of(TelemetryEvent)), events)
    if audit:
        entries = [_audit_values(a) for a in audit]
        await conn.execute(insert_ignoring_duplicates(dialect, table_of(AuditLog)), entries)


async def _insert_messages(
    conn: AsyncConnection, messages: Sequence[MessageRecord], now: datetime
) -> dict[str, int]:
    ids = await insert_messages(conn, messages, now)
    missing = [m for m in messages if m.row_key not in ids]
    if missing:
        ids.update(await _existing_ids(conn, missing))
    return ids


async def _existing_ids(conn: AsyncConnection, records: Sequence[MessageRecord]) -> dict[str, int]:
    """Ids of rows the INSERT skipped: same row_key, or same (chat_id, client_msg_id)."""
    keyed = [r for r in records if r.client_msg_id is not None]
    condition: ColumnElement[bool] = ChatMessage.row_key.in_([r.row_key for r in records])
    if keyed:
        pairs = [(r.chat_id, r.client_msg_id) for r in keyed]
        condition = or_(
            condition, tuple_(ChatMessage.chat_id, ChatMessage.client_msg_id).in_(pairs)
        )
    stmt = select(
        ChatMessage.row_key, ChatMessage.id, ChatMessage.chat_id, ChatMessage.client_msg_id
    ).where(condition)
    by_key: dict[str, int] = {}
    by_client: dict[tuple[str, str], int] = {}
    for row in await conn.execute(stmt):
        by_key[row.row_key] = row.id
        if row.client_msg_id is not None:
            by_client[(row.chat_id, row.client_msg_id)] = row.id
    found: dict[str, int] = {}
    for r in records:
        known = by_key.get(r.row_key)
        if known is None and r.client_msg_id is not None:
            known = by_client.get((r.chat_id, r.client_msg_id))
        if known is None:
            raise LookupError(f"message {r.row_key} neither inserted nor found")
        found[r.row_key] = known
    return found


async def _touch_sessions(conn: AsyncConnection, chat_ids: Iterable[str], now: datetime) -> None:
    # A new message makes its chat the newest in the caller's chat list. Sorted: one lock order.
    await conn.execute(
        update(MessageSession)
        .where(chat_id_in(conn.dialect.name, table_of(MessageSession).c.chat_id, sorted(chat_ids)))
        .values(update_time=now)
    )


def _unique_sessions(sessions: Iterable[SessionRecord]) -> list[SessionRecord]:
    # One multi-row insert must not carry the same primary key twice (PostgreSQL refuses it).
    return list({s.chat_id: s for s in sessions}.values())
