"""The repository: one `Repository` protocol for everything raychat persists, and its SQL
implementation assembled from one mixin per concern (`storage/sql/`). `storage/memory/` is the
in-memory fake; `tests/contract` is the one suite both pass.

Writes of chat rows come in batches from the storage actor (`bulk_write`); every other method is
one short transaction or one read. Methods return plain records, never ORM objects, and report
"not found" as None/False rather than raising.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.chat_records import (
    AuditRecord,
    ChatListItem,
    ChatStats,
    Page,
    SessionFilter,
    SessionRow,
    StatsFilter,
    TelemetryRecord,
)
from storage.records import (
    AppSummary,
    AssistantChanges,
    AssistantRecord,
    FlowChanges,
    FlowRecord,
    FlowVersionRecord,
    MessageRecord,
    MessageRow,
    SessionClaim,
    SessionRecord,
    UserRecord,
)
from storage.sql.apps import SqlApps
from storage.sql.messages import CONTEXT_CATEGORIES, SqlMessages
from storage.sql.server_state import SqlServerState
from storage.sql.sessions import SqlSessions
from storage.sql.stats import SqlStats
from storage.sql.tables import Base
from storage.sql.users import SqlUsers
from storage.sql.writes import SqlWrites

__all__ = ["CONTEXT_CATEGORIES", "Repository", "SqlRepository"]


class Repository(Protocol):
    """Everything the API persists. See the SQL mixins for each method's statements."""

    async def ping(self) -> None: ...
    async def close(self) -> None: ...

    # Group commit (storage actor flush).
    async def bulk_write(
        self,
        messages: Sequence[MessageRecord],
        sessions: Sequence[SessionRecord],
        telemetry: Sequence[TelemetryRecord] = (),
        audit: Sequence[AuditRecord] = (),
    ) -> dict[str, int]: ...

    # Messages.
    async def history(
        self,
        chat_id: str,
        flow_id: str,
        before_id: int | None,
        limit: int,
        include_deleted: bool = False,
    ) -> list[MessageRow]: ...
    async def session_messages(
        self, chat_id: str, limit: int = 1000, include_deleted: bool = False
    ) -> list[MessageRow]: ...
    async def recent_context(self, chat_id: str, limit: int) -> list[MessageRow]: ...
    async def get_message(self, message_id: int) -> MessageRow | None: ...
    async def get_messages(self, message_ids: Sequence[int]) -> list[MessageRow]: ...
    async def find_client_message(self, chat_id: str, client_msg_id: str) -> int | None: ...
    async def update_message(
        self, message_id: int, message: str, category: str | None = None
    ) -> bool: ...
    async def delete_message(self, message_id: int) -> bool: ...
    async def set_liked(self, message_id: int, liked: int) -> int | None: ...
    async def mark_copied(self, message_id: int) -> bool | None: ...
    async def set_comment(self, message_id: int, comment: str) -> bool: ...

    # Sessions.
    async def claim_session(self, record: SessionRecord) -> SessionClaim: ...
    async def session_owner(self, chat_id: str) -> tuple[int | None, str] | None: ...
    async def get_session(self, chat_id: str) -> SessionRow | None: ...
    async def list_chats(
        self, user_id: int, flow_types: Sequence[int] = (), page: int = 1, limit: int = 10
    ) -> list[ChatListItem]: ...
    async def rename_session(self, chat_id: str, name: str) -> bool: ...
    async def delete_session(self, chat_id: str) -> bool: ...
    async def copy_session(self, chat_id: str, new_chat_id: str, user_id: int | None) -> bool: ...
    async def audit_sessions(
        self, f: SessionFilter, page: int = 1, limit: int = 20
    ) -> Page[SessionRow]: ...
    async def stats(self, f: StatsFilter) -> ChatStats: ...

    # Apps.
    async def create_flow(self, flow: FlowRecord) -> FlowRecord: ...
    async def put_flow(self, flow: FlowRecord) -> None: ...
    async def get_flow(self, flow_id: str) -> FlowRecord | None: ...
    async def update_flow(self, flow_id: str, changes: FlowChanges) -> FlowRecord | None: ...
    async def delete_flow(self, flow_id: str) -> bool: ...
    async def list_flows(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[FlowRecord]: ...
    async def flow_versions(self, flow_id: str) -> list[FlowVersionRecord]: ...
    async def create_assistant(self, assistant: AssistantRecord) -> AssistantRecord: ...
    async def get_assistant(self, assistant_id: str) -> AssistantRecord | None: ...
    async def update_assistant(
        self, assistant_id: str, changes: AssistantChanges
    ) -> AssistantRecord | None: ...
    async def delete_assistant(self, assistant_id: str) -> bool: ...
    async def list_assistants(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[AssistantRecord]: ...
    async def list_online_apps(
        self, user_id: int | None, keyword: str | None = None, page: int = 1, limit: int = 10
    ) -> list[AppSummary]: ...

    # Users and events.
    async def ensure_user(self, user_name: str, role: str, password_hash: str) -> UserRecord: ...
    async def create_user(
        self, user_name: str, password_hash: str, role: str | None = None
    ) -> UserRecord | None: ...
    async def get_user(self, user_id: int) -> UserRecord | None: ...
    async def get_user_by_name(self, user_name: str) -> UserRecord | None: ...
    async def list_telemetry(self, event_type: str, limit: int = 100) -> list[TelemetryRecord]: ...
    async def list_audit_log(self, user_id: int, limit: int = 100) -> list[AuditRecord]: ...

    # Server-wide values (the generated JWT secret).
    async def ensure_server_value(self, name: str, candidate: str) -> str: ...


class SqlRepository(
    SqlWrites, SqlMessages, SqlSessions, SqlStats, SqlApps, SqlUsers, SqlServerState
):
    """All SQL of raychat. Safe to share across coroutines (each call takes its own connection).
    Holds no state besides its engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_schema(self) -> None:
        """Create missing tables without migrations (benchmarks only; use `storage.migrate`)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def ping(self) -> None:
        """Raise if the database cannot answer `SELECT 1`."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()
