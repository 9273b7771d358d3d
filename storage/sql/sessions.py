"""Session reads and changes: chat list, info, rename, copy, soft delete, audit query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    cast,
    false,
    func,
    literal,
    null,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.records import (
    COPY_CHAT_ID_MAX,
    ChatListItem,
    MessageRow,
    Page,
    SessionFilter,
    SessionRow,
    utcnow,
)
from storage.sql.dialect import insert_ignoring_duplicates
from storage.sql.mapping import message_row, session_row
from storage.sql.messages import MESSAGE_COLUMNS
from storage.sql.tables import ChatMessage, MessageSession, Time, table_of

# Copied rows get `row_key = "<new chat id>:<source id>"`: unique, and a retried copy is a no-op.


def _live(chat_id: str) -> ColumnElement[bool]:
    return (MessageSession.chat_id == chat_id) & (MessageSession.is_delete == false())


def _audit_conditions(f: SessionFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.user_id is not None:
        conditions.append(MessageSession.user_id == f.user_id)
    if f.flow_id is not None:
        conditions.append(MessageSession.flow_id == f.flow_id)
    if f.user_ids:
        conditions.append(MessageSession.user_id.in_(f.user_ids))
    if f.flow_ids:
        conditions.append(MessageSession.flow_id.in_(f.flow_ids))
    if f.feedback is not None:
        conditions.append(getattr(MessageSession, f.feedback) > 0)
    if f.start is not None:
        conditions.append(MessageSession.create_time >= f.start)
    if f.end is not None:
        conditions.append(MessageSession.create_time < f.end)
    if not f.include_deleted:
        conditions.append(MessageSession.is_delete == false())
    return conditions


class SqlSessions:
    """Session reads and changes."""

    engine: AsyncEngine

    async def session_owner(self, chat_id: str) -> tuple[int | None, str] | None:
        """`(user_id, flow_id)` of a chat (deleted or not), or None when it does not exist."""
        stmt = select(MessageSession.user_id, MessageSession.flow_id).where(
            MessageSession.chat_id == chat_id
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else (row.user_id, row.flow_id)

    async def get_session(self, chat_id: str) -> SessionRow | None:
        """The session row (soft-deleted ones too: check `is_delete`), or None."""
        stmt = select(table_of(MessageSession)).where(MessageSession.chat_id == chat_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else session_row(row)

    async def list_chats(
        self, user_id: int, flow_types: Sequence[int] = (), page: int = 1, limit: int = 10
    ) -> list[ChatListItem]:
        """The user's live sessions, newest `update_time` first, each with its newest message.
        Two statements: the page of sessions, then their latest messages."""
        stmt = select(table_of(MessageSession)).where(
            MessageSession.user_id == user_id, MessageSession.is_delete == false()
        )
        if flow_types:
            stmt = stmt.where(MessageSession.flow_type.in_(list(flow_types)))
        stmt = stmt.order_by(MessageSession.update_time.desc(), MessageSession.chat_id.desc())
        async with self.engine.connect() as conn:
            sessions = [
                session_row(r)
                for r in await conn.execute(stmt.limit(limit).offset((page - 1) * limit))
            ]
            latest = await _latest_messages(conn, [s.chat_id for s in sessions])
        return [ChatListItem(s, latest.get(s.chat_id)) for s in sessions]

    async def rename_session(self, chat_id: str, name: str) -> bool:
        """Set a live session's `name`; False when there is none."""
        stmt = update(MessageSession).where(_live(chat_id)).values(name=name, update_time=utcnow())
        async with self.engine.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def delete_session(self, chat_id: str) -> bool:
        """Soft delete: the session leaves lists and history, its rows stay for audit. False when
        no live session has this id."""
        stmt = (
            update(MessageSession)
            .where(_live(chat_id))
            .values(is_delete=True, update_time=utcnow())
        )
        async with self.engine.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def copy_session(self, chat_id: str, new_chat_id: str, user_id: int | None) -> bool:
        """Copy a live session and all its messages (same order, feedback reset) to `new_chat_id`,
        owned by `user_id`. Two INSERT ... SELECT statements in one transaction; retrying with
        the same `new_chat_id` is a no-op. False when the source is not a live session."""
        if len(new_chat_id) > COPY_CHAT_ID_MAX:
            raise ValueError(f"new chat id longer than {COPY_CHAT_ID_MAX} characters")
        async with self.engine.begin() as conn:
            copied = await _copy_session_row(conn, chat_id, new_chat_id, user_id)
            if not copied:
                exists = select(MessageSession.chat_id).where(MessageSession.chat_id == new_chat_id)
                if (await conn.execute(exists)).first() is None:
                    return False
            await _copy_messages(conn, chat_id, new_chat_id, user_id)
        return True

    async def audit_sessions(
        self, f: SessionFilter, page: int = 1, limit: int = 20
    ) -> Page[SessionRow]:
        """Sessions matching the audit filters, newest created first, and their total. Two
        statements (count, page)."""
        conditions = _audit_conditions(f)
        count = select(func.count()).select_from(MessageSession).where(*conditions)
        stmt = (
            select(table_of(MessageSession))
            .where(*conditions)
            .order_by(MessageSession.create_time.desc(), MessageSession.chat_id.desc())
            .limit(limit)
            .offset((page - 1) * limit)
        )
        async with self.engine.connect() as conn:
            total = (await conn.execute(count)).scalar_one()
            rows = tuple(session_row(r) for r in await conn.execute(stmt))
        return Page(rows, int(total))


async def _latest_messages(conn: AsyncConnection, chat_ids: list[str]) -> dict[str, MessageRow]:
    if not chat_ids:
        return {}
    newest = (
        select(func.max(ChatMessage.id).label("id"))
        .where(ChatMessage.chat_id.in_(chat_ids))
        .group_by(ChatMessage.chat_id)
        .subquery()
    )
    stmt = select(*MESSAGE_COLUMNS).join(newest, newest.c.id == ChatMessage.id)
    return {r.chat_id: message_row(r) for r in await conn.execute(stmt)}


async def _copy_session_row(
    conn: AsyncConnection, chat_id: str, new_chat_id: str, user_id: int | None
) -> bool:
    src = table_of(MessageSession).alias("src")
    now = utcnow()
    source = select(
        literal(new_chat_id, String),
        src.c.name,
        src.c.flow_id,
        src.c.flow_type,
        src.c.flow_name,
        src.c.flow_description,
        src.c.flow_logo,
        literal(user_id, Integer),
        false(),
        literal(0),
        literal(0),
        literal(0),
        src.c.sensitive_status,
        literal(now, Time),
        literal(now, Time),
    ).where(src.c.chat_id == chat_id, src.c.is_delete == false())
    columns = [c.name for c in table_of(MessageSession).c]
    stmt = insert_ignoring_duplicates(conn.dialect.name, table_of(MessageSession))
    return bool((await conn.execute(stmt.from_select(columns, source))).rowcount)


async def _copy_messages(
    conn: AsyncConnection, chat_id: str, new_chat_id: str, user_id: int | None
) -> None:
    src = table_of(ChatMessage).alias("src")
    copy_values: dict[str, Any] = {
        "id": None,
        "row_key": literal(new_chat_id + ":", String) + cast(src.c.id, String),
        "client_msg_id": null(),
        "chat_id": literal(new_chat_id, String),
        "user_id": literal(user_id, Integer),
        "liked": literal(0),
        "copied": literal(0),
        "comment": null(),
        "update_time": literal(utcnow(), Time),
    }
    columns = [c.name for c in table_of(ChatMessage).c if c.name != "id"]
    picked = [copy_values.get(name, src.c[name]) for name in columns]
    source = select(*picked).where(src.c.chat_id == chat_id, true()).order_by(src.c.id)
    stmt = insert_ignoring_duplicates(conn.dialect.name, table_of(ChatMessage))
    await conn.execute(stmt.from_select(columns, source))
