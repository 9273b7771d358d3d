"""Records of the chat read side: session rows, chat-list items, pages, audit and stats queries,
telemetry and audit-log events. Plain frozen dataclasses, as in `storage.records`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from storage.records import MessageRow, iso, utcnow

T = TypeVar("T")
Feedback = Literal["like", "dislike", "copied"]


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

    def to_public(self) -> dict[str, Any]:
        """JSON-ready dict with ISO times."""
        return {
            "chat_id": self.chat_id,
            "name": self.name,
            "flow_id": self.flow_id,
            "flow_type": self.flow_type,
            "flow_name": self.flow_name,
            "flow_description": self.flow_description,
            "flow_logo": self.flow_logo,
            "user_id": self.user_id,
            "is_delete": self.is_delete,
            "like": self.like,
            "dislike": self.dislike,
            "copied": self.copied,
            "sensitive_status": self.sensitive_status,
            "create_time": iso(self.create_time),
            "update_time": iso(self.update_time),
        }


@dataclass(frozen=True, slots=True)
class ChatListItem:
    """One entry of `/chat/chat/list`: a live session and its newest message (or None)."""

    session: SessionRow
    latest_message: MessageRow | None

    def to_public(self) -> dict[str, Any]:
        """The API.md §3 chat-list shape."""
        s = self.session
        return {
            "chat_id": s.chat_id,
            "flow_id": s.flow_id,
            "flow_name": s.flow_name,
            "flow_description": s.flow_description,
            "flow_type": s.flow_type,
            "name": s.name,
            "logo": s.flow_logo,
            "create_time": iso(s.create_time),
            "update_time": iso(s.update_time),
            "latest_message": None
            if self.latest_message is None
            else self.latest_message.to_public(),
        }


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a filtered list and the total number of matches."""

    items: tuple[T, ...]
    total: int


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


@dataclass(frozen=True, slots=True)
class StatsFilter:
    """Stats scope: sessions of apps owned by `owner_id` (None: every app), optionally one app,
    created in `[start, end)`."""

    owner_id: int | None = None
    flow_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class DayStats:
    """One day (UTC, `YYYY-MM-DD`) of `by_day`."""

    date: str
    sessions: int
    messages: int
    like: int
    dislike: int
    copied: int

    def to_public(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "date": self.date,
            "sessions": self.sessions,
            "messages": self.messages,
            "like": self.like,
            "dislike": self.dislike,
            "copied": self.copied,
        }


@dataclass(frozen=True, slots=True)
class ChatStats:
    """`/chat/stats`: totals and a per-day breakdown, oldest day first."""

    sessions: int
    messages: int
    users: int
    like: int
    dislike: int
    copied: int
    by_day: tuple[DayStats, ...]

    def to_public(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "sessions": self.sessions,
            "messages": self.messages,
            "users": self.users,
            "like": self.like,
            "dislike": self.dislike,
            "copied": self.copied,
            "by_day": [d.to_public() for d in self.by_day],
        }


@dataclass(frozen=True, slots=True)
class TelemetryRecord:
    """A telemetry event to insert; `event_key` makes a retried insert a no-op."""

    event_key: str
    event_type: str
    user_id: int | None
    payload: dict[str, Any]
    chat_id: str | None = None
    message_id: int | None = None
    create_time: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An audit-log entry to insert; `event_key` makes a retried insert a no-op."""

    event_key: str
    user_id: int | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any] = field(default_factory=dict)
    create_time: datetime = field(default_factory=utcnow)
