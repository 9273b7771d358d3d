"""Plain, immutable records: what crosses actor boundaries (pickled by Ray), never ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    """Timezone-aware now; every stored time is UTC."""
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 with an explicit offset; naive values (SQLite drops tzinfo) are UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A message row to insert. `row_key` is unique: retrying an insert with it is a no-op."""

    row_key: str
    chat_id: str
    flow_id: str
    user_id: int | None
    is_bot: bool
    message: str
    type: str
    category: str
    intermediate_steps: str | None = None
    files: str | None = None
    extra: str | None = None
    source: int = 0
    remark: str | None = None
    client_msg_id: str | None = None


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
class MessageRow:
    """A stored message as the API returns it (API.md §3 "Message row")."""

    id: int
    is_bot: bool
    message: str
    type: str
    category: str
    intermediate_steps: str | None
    files: str | None
    extra: str | None
    flow_id: str
    chat_id: str
    user_id: int | None
    liked: int
    copied: int
    solved: int
    sensitive_status: int
    source: int
    remark: str | None
    create_time: datetime
    update_time: datetime
    user_name: str | None = None
    flow_name: str | None = None
    comment: str | None = None

    def to_public(self) -> dict[str, Any]:
        """JSON-ready dict with ISO times."""
        return {
            "id": self.id,
            "is_bot": self.is_bot,
            "message": self.message,
            "type": self.type,
            "category": self.category,
            "intermediate_steps": self.intermediate_steps,
            "files": self.files,
            "extra": self.extra,
            "flow_id": self.flow_id,
            "chat_id": self.chat_id,
            "user_id": self.user_id,
            "liked": self.liked,
            "copied": self.copied,
            "solved": self.solved,
            "sensitive_status": self.sensitive_status,
            "source": self.source,
            "remark": self.remark,
            "create_time": iso(self.create_time),
            "update_time": iso(self.update_time),
            "user_name": self.user_name,
            "flow_name": self.flow_name,
            "comment": self.comment,
        }


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """A flow (skill) with its current graph."""

    id: str
    name: str
    status: int
    version: int
    data: dict[str, Any]
    user_id: int
    description: str | None = None
    logo: str | None = None
    is_public: bool = False
    create_time: datetime = field(default_factory=utcnow)
    update_time: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user; `password_hash` never leaves the storage and auth layers."""

    id: int
    user_name: str
    role: str
    password_hash: str = ""


@dataclass(frozen=True, slots=True)
class FlowVersionRecord:
    """One saved graph of a flow."""

    flow_id: str
    version: int
    data: dict[str, Any]
    user_id: int
    create_time: datetime


@dataclass(frozen=True, slots=True)
class FlowChanges:
    """A flow PATCH: None leaves a field as it is. A new `data` creates a new version."""

    name: str | None = None
    description: str | None = None
    logo: str | None = None
    data: dict[str, Any] | None = None
    status: int | None = None
    is_public: bool | None = None


@dataclass(frozen=True, slots=True)
class AssistantRecord:
    """An assistant (API.md §2 assistant object)."""

    id: str
    name: str
    prompt: str
    model: dict[str, Any]
    user_id: int
    tools: list[Any] = field(default_factory=list)
    guide_word: str | None = None
    status: int = 1
    description: str | None = None
    logo: str | None = None
    is_public: bool = False
    create_time: datetime = field(default_factory=utcnow)
    update_time: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class AssistantChanges:
    """An assistant PATCH: None leaves a field as it is."""

    name: str | None = None
    prompt: str | None = None
    model: dict[str, Any] | None = None
    tools: list[Any] | None = None
    guide_word: str | None = None
    status: int | None = None
    description: str | None = None
    logo: str | None = None
    is_public: bool | None = None


@dataclass(frozen=True, slots=True)
class AppSummary:
    """An online flow or assistant (`/chat/chat/online` item); flow_type 1 flow, 5 assistant."""

    id: str
    name: str
    description: str | None
    logo: str | None
    flow_type: int
    update_time: datetime

    def to_public(self) -> dict[str, Any]:
        """JSON-ready dict with ISO times."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "logo": self.logo,
            "flow_type": self.flow_type,
            "update_time": iso(self.update_time),
        }
