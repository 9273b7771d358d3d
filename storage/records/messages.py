"""Message records: a row to insert (`MessageRecord`) and a stored row (`MessageRow`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

CONTEXT_CATEGORIES = ("question", "answer")
"""The message categories a session's model context is rebuilt from."""
COMMENT_MAX_CHARS = 4096
"""The longest feedback comment stored on a message."""


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


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """A page of a chat's history: messages with `id < before_id` (None: from the newest),
    newest first, at most `limit`; soft-deleted chats only with `include_deleted` (audit)."""

    chat_id: str
    flow_id: str
    before_id: int | None = None
    limit: int = 20
    include_deleted: bool = False
