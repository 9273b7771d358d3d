"""Plain, immutable records: what crosses actor boundaries (pickled by Ray), never ORM objects.

One module per entity; this package re-exports every record so callers import from
`storage.records`.
"""

from __future__ import annotations

from storage.records.apps import (
    FLOW_OFFLINE,
    FLOW_ONLINE,
    FLOW_TYPE_ASSISTANT,
    FLOW_TYPE_FLOW,
    AppSummary,
    AssistantChanges,
    AssistantRecord,
    FlowChanges,
    FlowRecord,
    FlowVersionRecord,
)
from storage.records.batches import WriteBatch
from storage.records.events import AuditRecord, TelemetryRecord
from storage.records.messages import (
    COMMENT_MAX_CHARS,
    CONTEXT_CATEGORIES,
    HistoryQuery,
    MessageRecord,
    MessageRow,
)
from storage.records.pages import Page
from storage.records.sessions import (
    COPY_CHAT_ID_MAX,
    ChatListItem,
    SessionClaim,
    SessionFilter,
    SessionRecord,
    SessionRow,
)
from storage.records.stats import ChatStats, DayStats, Feedback, StatsFilter
from storage.records.times import iso, utcnow
from storage.records.users import UserRecord

__all__ = [
    "COMMENT_MAX_CHARS",
    "CONTEXT_CATEGORIES",
    "COPY_CHAT_ID_MAX",
    "FLOW_OFFLINE",
    "FLOW_ONLINE",
    "FLOW_TYPE_ASSISTANT",
    "FLOW_TYPE_FLOW",
    "AppSummary",
    "AssistantChanges",
    "AssistantRecord",
    "AuditRecord",
    "ChatListItem",
    "ChatStats",
    "DayStats",
    "Feedback",
    "FlowChanges",
    "FlowRecord",
    "FlowVersionRecord",
    "HistoryQuery",
    "MessageRecord",
    "MessageRow",
    "Page",
    "SessionClaim",
    "SessionFilter",
    "SessionRecord",
    "SessionRow",
    "StatsFilter",
    "TelemetryRecord",
    "UserRecord",
    "WriteBatch",
    "iso",
    "utcnow",
]
