"""The in-memory fake of `Repository` (chat side: messages, sessions, feedback, stats, events).

Same contract as the SQL repository, checked by the same suite (`tests/contract`). Single event
loop, no awaits inside a change, so every method is atomic like one SQL transaction. The app
and user side lives in `storage.memory.apps`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from storage.memory.apps import MemoryApps
from storage.records import (
    COMMENT_MAX_CHARS,
    COPY_CHAT_ID_MAX,
    AuditRecord,
    ChatListItem,
    ChatStats,
    DayStats,
    HistoryQuery,
    MessageRecord,
    MessageRow,
    Page,
    SessionClaim,
    SessionFilter,
    SessionRecord,
    SessionRow,
    StatsFilter,
    TelemetryRecord,
    WriteBatch,
    utcnow,
)
from storage.repository import Repository

_COUNTED = {0: (0, 0), 1: (1, 0), 2: (0, 1)}


def _new_message(record: MessageRecord, message_id: int) -> MessageRow:
    now = utcnow()
    return MessageRow(
        id=message_id, is_bot=record.is_bot, message=record.message, type=record.type,
        category=record.category, intermediate_steps=record.intermediate_steps,
        files=record.files, extra=record.extra, flow_id=record.flow_id, chat_id=record.chat_id,
        user_id=record.user_id, liked=0, copied=0, solved=0, sensitive_status=1,
        source=record.source, remark=record.remark, create_time=now, update_time=now,
    )  # fmt: skip


def _new_session(record: SessionRecord) -> SessionRow:
    now = utcnow()
    return SessionRow(
        chat_id=record.chat_id, name=record.name, flow_id=record.flow_id,
        flow_type=record.flow_type, flow_name=record.flow_name,
        flow_description=record.flow_description, flow_logo=record.flow_logo,
        user_id=record.user_id, is_delete=False, like=0, dislike=0, copied=0,
        sensitive_status=1, create_time=now, update_time=now,
    )  # fmt: skip


def _in_range(value: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or value >= start) and (end is None or value < end)


class MemoryRepository(MemoryApps):
    """Dict-backed repository for unit tests of the layers above storage."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[int, MessageRow] = {}
        self.sessions: dict[str, SessionRow] = {}
        self._row_keys: dict[str, int] = {}
        self._client_ids: dict[tuple[str, str], int] = {}
        self.telemetry: dict[str, TelemetryRecord] = {}
        self.audit: dict[str, AuditRecord] = {}
        self._next_id = 1

    async def ping(self) -> None:
        """Always answers."""

    async def close(self) -> None:
        """Nothing to release."""

    async def bulk_write(self, batch: WriteBatch) -> dict[str, int]:
        """Insert a batch; existing keys are skipped and their ids returned."""
        for s in batch.sessions:
            self.sessions.setdefault(s.chat_id, _new_session(s))
        ids = {m.row_key: self._insert_message(m) for m in batch.messages}
        for t in batch.telemetry:
            self.telemetry.setdefault(t.event_key, t)
        for a in batch.audit:
            self.audit.setdefault(a.event_key, a)
        for chat_id in {m.chat_id for m in batch.messages} & set(self.sessions):
            self.sessions[chat_id] = dataclasses.replace(
                self.sessions[chat_id], update_time=utcnow()
            )
        return ids

    def _insert_message(self, record: MessageRecord) -> int:
        known = self._row_keys.get(record.row_key)
        if known is None and record.client_msg_id is not None:
            known = self._client_ids.get((record.chat_id, record.client_msg_id))
        if known is not None:
            self._row_keys.setdefault(record.row_key, known)
            return known
        message_id, self._next_id = self._next_id, self._next_id + 1
        self.messages[message_id] = _new_message(record, message_id)
        self._row_keys[record.row_key] = message_id
        if record.client_msg_id is not None:
            self._client_ids[(record.chat_id, record.client_msg_id)] = message_id
        return message_id

    def _visible_chat(self, chat_id: str, include_deleted: bool) -> SessionRow | None:
        session = self.sessions.get(chat_id)
        if session is None or (session.is_delete and not include_deleted):
            return None
        return session

    def _named(self, row: MessageRow, session: SessionRow) -> MessageRow:
        user = self.users.get(row.user_id) if row.user_id is not None else None
        user_name = None if user is None else user.user_name
        return dataclasses.replace(row, user_name=user_name, flow_name=session.flow_name)

    def _chat_rows(self, chat_id: str) -> list[MessageRow]:
        """A chat's rows, newest first."""
        rows = [m for m in self.messages.values() if m.chat_id == chat_id]
        return sorted(rows, key=lambda m: m.id, reverse=True)

    async def history(self, query: HistoryQuery) -> list[MessageRow]:
        """A page of a visible chat, newest first, with names."""
        q = query
        session = self._visible_chat(q.chat_id, q.include_deleted)
        if session is None:
            return []
        rows = [
            m for m in self._chat_rows(q.chat_id)
            if m.flow_id == q.flow_id and (q.before_id is None or m.id < q.before_id)
        ]  # fmt: skip
        return [self._named(m, session) for m in rows[: q.limit]]

    async def session_messages(
        self, chat_id: str, limit: int = 1000, include_deleted: bool = False
    ) -> list[MessageRow]:
        """Newest `limit` rows of a visible chat, oldest first."""
        session = self._visible_chat(chat_id, include_deleted)
        if session is None:
            return []
        return [self._named(m, session) for m in reversed(self._chat_rows(chat_id)[:limit])]

    async def get_message(self, message_id: int) -> MessageRow | None:
        """One message or None."""
        return self.messages.get(message_id)

    async def get_messages(self, message_ids: Sequence[int]) -> list[MessageRow]:
        """Existing messages among the ids, in id order."""
        return [self.messages[i] for i in sorted(set(message_ids)) if i in self.messages]

    async def find_client_message(self, chat_id: str, client_msg_id: str) -> int | None:
        """The id stored with this client_msg_id in the chat."""
        return self._client_ids.get((chat_id, client_msg_id))

    def _change(self, message_id: int, **values: object) -> bool:
        row = self.messages.get(message_id)
        if row is None:
            return False
        self.messages[message_id] = dataclasses.replace(row, update_time=utcnow(), **values)  # type: ignore[arg-type]
        return True

    async def update_message(
        self, message_id: int, message: str, category: str | None = None
    ) -> bool:
        """Replace text (and category)."""
        if category is None:
            return self._change(message_id, message=message)
        return self._change(message_id, message=message, category=category)

    async def set_comment(self, message_id: int, comment: str) -> bool:
        """Store the comment; ValueError past the limit."""
        if len(comment) > COMMENT_MAX_CHARS:
            raise ValueError(f"comment longer than {COMMENT_MAX_CHARS} characters")
        return self._change(message_id, comment=comment)

    def _move_counters(self, chat_id: str, like: int, dislike: int, copied: int) -> None:
        s = self.sessions.get(chat_id)
        if s is not None:
            self.sessions[chat_id] = dataclasses.replace(
                s, like=s.like + like, dislike=s.dislike + dislike, copied=s.copied + copied
            )

    async def set_liked(self, message_id: int, liked: int) -> int | None:
        """Set liked, move counters; returns the previous value."""
        if liked not in _COUNTED:
            raise ValueError(f"liked must be 0, 1 or 2, not {liked}")
        row = self.messages.get(message_id)
        if row is None or row.liked == liked:
            return None if row is None else row.liked
        self._change(message_id, liked=liked)
        (old_like, old_dislike), (new_like, new_dislike) = _COUNTED[row.liked], _COUNTED[liked]
        self._move_counters(row.chat_id, new_like - old_like, new_dislike - old_dislike, 0)
        return row.liked

    async def mark_copied(self, message_id: int) -> bool | None:
        """First copy counts."""
        row = self.messages.get(message_id)
        if row is None or row.copied:
            return None if row is None else False
        self._change(message_id, copied=1)
        self._move_counters(row.chat_id, 0, 0, 1)
        return True

    async def delete_message(self, message_id: int) -> bool:
        """Hard delete; its feedback leaves the counters."""
        row = self.messages.pop(message_id, None)
        if row is None:
            return False
        like, dislike = _COUNTED.get(row.liked, (0, 0))
        self._move_counters(row.chat_id, -like, -dislike, -row.copied)
        return True

    async def claim_session(self, record: SessionRecord) -> SessionClaim:
        """Create the session unless it exists; the existing row's owner is the owner."""
        created = record.chat_id not in self.sessions
        s = self.sessions.setdefault(record.chat_id, _new_session(record))
        return SessionClaim(s.user_id, s.flow_id, s.is_delete, created=created)

    async def session_owner(self, chat_id: str) -> tuple[int | None, str] | None:
        """(user_id, flow_id) or None."""
        s = self.sessions.get(chat_id)
        return None if s is None else (s.user_id, s.flow_id)

    async def get_session(self, chat_id: str) -> SessionRow | None:
        """The session (deleted too) or None."""
        return self.sessions.get(chat_id)

    async def list_chats(
        self, user_id: int, flow_types: Sequence[int] = (), page: int = 1, limit: int = 10
    ) -> list[ChatListItem]:
        """Live sessions of the user, newest update first, with their newest message."""
        live = [
            s
            for s in self.sessions.values()
            if s.user_id == user_id
            and not s.is_delete
            and (not flow_types or s.flow_type in flow_types)
        ]
        live.sort(key=lambda s: (s.update_time, s.chat_id), reverse=True)
        chosen = live[(page - 1) * limit : page * limit]
        return [ChatListItem(s, next(iter(self._chat_rows(s.chat_id)), None)) for s in chosen]

    def _live_change(self, chat_id: str, **values: object) -> bool:
        s = self.sessions.get(chat_id)
        if s is None or s.is_delete:
            return False
        self.sessions[chat_id] = dataclasses.replace(s, update_time=utcnow(), **values)  # type: ignore[arg-type]
        return True

    async def rename_session(self, chat_id: str, name: str) -> bool:
        """Rename a live session."""
        return self._live_change(chat_id, name=name)

    async def delete_session(self, chat_id: str) -> bool:
        """Soft delete a live session."""
        return self._live_change(chat_id, is_delete=True)

    async def copy_session(self, chat_id: str, new_chat_id: str, user_id: int | None) -> bool:
        """Copy a live session and its messages (feedback reset)."""
        if len(new_chat_id) > COPY_CHAT_ID_MAX:
            raise ValueError(f"new chat id longer than {COPY_CHAT_ID_MAX} characters")
        source = self._visible_chat(chat_id, include_deleted=False)
        if new_chat_id in self.sessions:
            return True
        if source is None:
            return False
        now = utcnow()
        self.sessions[new_chat_id] = dataclasses.replace(
            source, chat_id=new_chat_id, user_id=user_id, like=0, dislike=0, copied=0,
            create_time=now, update_time=now,
        )  # fmt: skip
        for row in reversed(self._chat_rows(chat_id)):
            message_id, self._next_id = self._next_id, self._next_id + 1
            self.messages[message_id] = dataclasses.replace(
                row, id=message_id, chat_id=new_chat_id, user_id=user_id, liked=0, copied=0,
                comment=None, update_time=now,
            )  # fmt: skip
        return True

    async def audit_sessions(
        self, f: SessionFilter, page: int = 1, limit: int = 20
    ) -> Page[SessionRow]:
        """Filtered sessions, newest created first, with the total."""
        rows = [
            s for s in self.sessions.values()
            if (f.user_id is None or s.user_id == f.user_id)
            and (f.flow_id is None or s.flow_id == f.flow_id)
            and (not f.user_ids or s.user_id in f.user_ids)
            and (not f.flow_ids or s.flow_id in f.flow_ids)
            and (f.feedback is None or getattr(s, f.feedback) > 0)
            and _in_range(s.create_time, f.start, f.end)
            and (f.include_deleted or not s.is_delete)
        ]  # fmt: skip
        rows.sort(key=lambda s: (s.create_time, s.chat_id), reverse=True)
        return Page(tuple(rows[(page - 1) * limit : page * limit]), len(rows))

    async def stats(self, f: StatsFilter) -> ChatStats:
        """Per-day sessions, messages and feedback of the apps in scope."""
        apps = self._apps_of(f.owner_id)

        def in_scope(app_id: str, created: datetime) -> bool:
            app_ok = (f.flow_id is None or app_id == f.flow_id) and (apps is None or app_id in apps)
            return app_ok and _in_range(created, f.start, f.end)

        sessions = [s for s in self.sessions.values() if in_scope(s.flow_id, s.create_time)]
        messages = [m for m in self.messages.values() if in_scope(m.flow_id, m.create_time)]
        by_day = _days(sessions, messages)
        return ChatStats(
            sessions=len(sessions),
            messages=len(messages),
            users=len({s.user_id for s in sessions if s.user_id is not None}),
            like=sum(d.like for d in by_day),
            dislike=sum(d.dislike for d in by_day),
            copied=sum(d.copied for d in by_day),
            by_day=by_day,
        )

    async def list_telemetry(self, event_type: str, limit: int = 100) -> list[TelemetryRecord]:
        """Newest events of a type first."""
        rows = [t for t in self.telemetry.values() if t.event_type == event_type]
        return list(reversed(rows))[:limit]

    async def list_audit_log(self, user_id: int, limit: int = 100) -> list[AuditRecord]:
        """A user's newest audit entries first."""
        return list(reversed([a for a in self.audit.values() if a.user_id == user_id]))[:limit]


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _days(sessions: list[SessionRow], messages: list[MessageRow]) -> tuple[DayStats, ...]:
    days = sorted({_day(s.create_time) for s in sessions} | {_day(m.create_time) for m in messages})
    out = []
    for day in days:
        daily = [s for s in sessions if _day(s.create_time) == day]
        count = sum(1 for m in messages if _day(m.create_time) == day)
        like, dislike = sum(s.like for s in daily), sum(s.dislike for s in daily)
        out.append(DayStats(day, len(daily), count, like, dislike, sum(s.copied for s in daily)))
    return tuple(out)


def _conforms(repo: MemoryRepository) -> Repository:
    # Static check (mypy): the fake satisfies the protocol.
    return repo
