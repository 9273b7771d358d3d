"""Message reads and per-message changes: history, context, edit, delete, feedback.

Feedback writes change a message and its session's counters in one transaction, computing the
delta from the row's old value read under a row lock, so concurrent likes cannot drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, false, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.records import COMMENT_MAX_CHARS, HistoryQuery, MessageRow, utcnow
from storage.sql.dialect import lock_row_for_write
from storage.sql.mapping import message_row
from storage.sql.tables import ChatMessage, MessageSession, User, table_of

MESSAGE_COLUMNS = [c for c in table_of(ChatMessage).c if c.name not in ("row_key", "client_msg_id")]
# liked value -> (like delta, dislike delta) when a message enters that value.
_COUNTED = {0: (0, 0), 1: (1, 0), 2: (0, 1)}


def _named_page(chat_id: str, include_deleted: bool) -> Select[Any]:
    """A chat's rows with user and flow names; the session must be live unless
    `include_deleted` (a soft-deleted chat disappears from history)."""
    live = MessageSession.chat_id == ChatMessage.chat_id
    if not include_deleted:
        live = live & (MessageSession.is_delete == false())
    return (
        select(*MESSAGE_COLUMNS, User.user_name, MessageSession.flow_name)
        .join(MessageSession, live)
        .outerjoin(User, User.id == ChatMessage.user_id)
        .where(ChatMessage.chat_id == chat_id)
        .order_by(ChatMessage.id.desc())
    )


class SqlMessages:
    """Message reads and changes."""

    engine: AsyncEngine

    async def history(self, query: HistoryQuery) -> list[MessageRow]:
        """A page of a chat's messages with `id < before_id`, newest first, with user/flow names.
        Empty for a missing chat, another flow's chat, or a soft-deleted chat (unless
        `include_deleted`). One statement."""
        q = query
        stmt = _named_page(q.chat_id, q.include_deleted).where(ChatMessage.flow_id == q.flow_id)
        if q.before_id is not None:
            stmt = stmt.where(ChatMessage.id < q.before_id)
        async with self.engine.connect() as conn:
            return [message_row(r) for r in await conn.execute(stmt.limit(q.limit))]

    async def session_messages(
        self, chat_id: str, limit: int = 1000, include_deleted: bool = False
    ) -> list[MessageRow]:
        """The chat's newest `limit` messages (every category), oldest first. One statement."""
        stmt = _named_page(chat_id, include_deleted).limit(limit)
        async with self.engine.connect() as conn:
            rows = [message_row(r) for r in await conn.execute(stmt)]
        rows.reverse()
        return rows

    async def get_message(self, message_id: int) -> MessageRow | None:
        """One message by id, or None."""
        stmt = select(*MESSAGE_COLUMNS).where(ChatMessage.id == message_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else message_row(row)

    async def get_messages(self, message_ids: Sequence[int]) -> list[MessageRow]:
        """The messages with these ids that exist, in id order."""
        if not message_ids:
            return []
        stmt = (
            select(*MESSAGE_COLUMNS)
            .where(ChatMessage.id.in_(list(message_ids)))
            .order_by(ChatMessage.id)
        )
        async with self.engine.connect() as conn:
            return [message_row(r) for r in await conn.execute(stmt)]

    async def find_client_message(self, chat_id: str, client_msg_id: str) -> int | None:
        """The id of the question stored with this `client_msg_id` in the chat, or None."""
        stmt = select(ChatMessage.id).where(
            ChatMessage.chat_id == chat_id, ChatMessage.client_msg_id == client_msg_id
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).scalar()

    async def update_message(
        self, message_id: int, message: str, category: str | None = None
    ) -> bool:
        """Replace a message's text (and category); False when it does not exist."""
        values: dict[str, Any] = {"message": message, "update_time": utcnow()}
        if category is not None:
            values["category"] = category
        stmt = update(ChatMessage).where(ChatMessage.id == message_id).values(values)
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def set_comment(self, message_id: int, comment: str) -> bool:
        """Store the user's comment (its own column; `remark` keeps markers). False when the
        message does not exist; ValueError beyond COMMENT_MAX_CHARS characters."""
        if len(comment) > COMMENT_MAX_CHARS:
            raise ValueError(f"comment longer than {COMMENT_MAX_CHARS} characters")
        stmt = (
            update(ChatMessage)
            .where(ChatMessage.id == message_id)
            .values(comment=comment, update_time=utcnow())
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def set_liked(self, message_id: int, liked: int) -> int | None:
        """Set a message's `liked` (0 none, 1 like, 2 dislike) and move its session's counters
        as API.md §5 says, in one transaction. Returns the previous value (equal to `liked`
        when nothing changed), None when the message does not exist."""
        if liked not in _COUNTED:
            raise ValueError(f"liked must be 0, 1 or 2, not {liked}")
        async with self.engine.begin() as conn:
            row = await _locked_message(conn, message_id)
            if row is None or row.liked == liked:
                return None if row is None else int(row.liked)
            await conn.execute(
                update(ChatMessage)
                .where(ChatMessage.id == message_id)
                .values(liked=liked, update_time=utcnow())
            )
            old_like, old_dislike = _COUNTED.get(row.liked, (0, 0))
            new_like, new_dislike = _COUNTED[liked]
            await _move_counters(
                conn, row.chat_id, new_like - old_like, new_dislike - old_dislike, 0
            )
            return int(row.liked)

    async def mark_copied(self, message_id: int) -> bool | None:
        """Mark a message copied. True on the first copy (the session's `copied` goes up by one),
        False on later copies (nothing changes), None when the message does not exist."""
        first = (
            update(ChatMessage)
            .where(ChatMessage.id == message_id, ChatMessage.copied == 0)
            .values(copied=1, update_time=utcnow())
        )
        async with self.engine.begin() as conn:
            if (await conn.execute(first)).rowcount:
                chat = select(ChatMessage.chat_id).where(ChatMessage.id == message_id)
                await _move_counters(conn, chat.scalar_subquery(), 0, 0, 1)
                return True
            exists = select(ChatMessage.id).where(ChatMessage.id == message_id)
            return False if (await conn.execute(exists)).first() else None

    async def delete_message(self, message_id: int) -> bool:
        """Delete a message (hard delete, as Bisheng) and take its feedback off its session's
        counters in the same transaction, so they keep matching the rows. False if missing."""
        async with self.engine.begin() as conn:
            row = await _locked_message(conn, message_id)
            if row is None:
                return False
            await conn.execute(delete(ChatMessage).where(ChatMessage.id == message_id))
            like, dislike = _COUNTED.get(row.liked, (0, 0))
            if like or dislike or row.copied:
                await _move_counters(conn, row.chat_id, -like, -dislike, -int(row.copied))
            return True


async def _locked_message(conn: AsyncConnection, message_id: int) -> Any:
    """(chat_id, liked, copied) of a message, locked until the transaction ends; None if missing."""
    await lock_row_for_write(conn, table_of(ChatMessage), ChatMessage.id, message_id)
    stmt = (
        select(ChatMessage.chat_id, ChatMessage.liked, ChatMessage.copied)
        .where(ChatMessage.id == message_id)
        .with_for_update()
    )
    return (await conn.execute(stmt)).first()


async def _move_counters(
    conn: AsyncConnection, chat_id: Any, like: int, dislike: int, copied: int
) -> None:
    """Atomic `col = col + delta` on a session's feedback counters; update_time stays (feedback
    does not make a chat the newest in its list)."""
    await conn.execute(
        update(MessageSession)
        .where(MessageSession.chat_id == chat_id)
        .values(
            like=MessageSession.like + like,
            dislike=MessageSession.dislike + dislike,
            copied=MessageSession.copied + copied,
            update_time=MessageSession.update_time,
        )
    )
