"""Session records: the row to upsert, the claim result, the stored row, chat-list items and
audit filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.records.messages import MessageRow
from storage.records.stats import Feedback

COPY_CHAT_ID_MAX = 40
"""The longest chat id a copy may be given (the `chat_id` column's width)."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A chat session (`message_session` row); created on a chat's first persisted message."""

    chat_id: str
    flow_id: str
    flow_type: int
    flow_name: str
    user_id: int | None
    flow_description: str | None = None
    flow_logo: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class SessionClaim:
    """Who owns a chat, as storage decided it: the first creator of its session row (socket or
    REST). `created` is True when this claim inserted the row."""

    user_id: int | None
    flow_id: str
    is_delete: bool
    created: bool = False


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A stored session as the API returns it (API.md §3 "Session row")."""

    chat_id: str
    name: str
    flow_id: str
    flow_type: int
    flow_name: str
    flow_description: str | None
    flow_logo: str | None
    user_id: int | None
    is_delete: bool
    like: int
    dislike: int
    copied: int
    sensitive_status: int
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True, slots=True)
class ChatListItem:
    """One entry of `/chat/chat/list`: a live session and its newest message (or None)."""

    session: SessionRow
    latest_message: MessageRow | None


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Audit filters (`/audit/session`): owner, app, feedback counter > 0, creation range
    `[start, end)`. Deleted sessions are included unless `include_deleted` is False. Non-empty
    `user_ids` / `flow_ids` (Bisheng's plural filters) keep sessions of any of them."""

    user_id: int | None = None
    flow_id: str | None = None
    feedback: Feedback | None = None
    start: datetime | None = None
    end: datetime | None = None
    include_deleted: bool = True
    user_ids: tuple[int, ...] = ()
    flow_ids: tuple[str, ...] = ()
