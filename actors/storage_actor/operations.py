"""The storage actor's operations beyond group commit: what the REST layer persists and reads.

Each method waits for the schema check, runs one short transaction (or one read) and returns
plain records. Unless said otherwise, every method may run concurrently with every other;
failures arrive as domain errors (`actors.storage_actor.errors`): StorageUnavailable when the
database cannot be used, InvalidInput for bad arguments. "Not found" is None/False, never an
exception: the caller decides between 403 and 404.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from actors.storage_actor.errors import domain_errors
from storage.records import (
    AppSummary,
    AssistantChanges,
    AssistantRecord,
    AuditRecord,
    ChatListItem,
    ChatStats,
    FlowChanges,
    FlowRecord,
    FlowVersionRecord,
    MessageRow,
    Page,
    SessionFilter,
    SessionRow,
    StatsFilter,
    TelemetryRecord,
    UserRecord,
)
from storage.sql import SqlRepository


class StorageOperations:
    """Mixin of `StorageActor`: typed pass-throughs to the repository."""

    _repo: SqlRepository

    async def _ensure_ready(self) -> None:
        raise NotImplementedError

    # Messages.

    @domain_errors
    async def session_messages(
        self, chat_id: str, limit: int = 1000, include_deleted: bool = False
    ) -> list[MessageRow]:
        """The chat's newest `limit` messages, oldest first ([] if none). Read-only."""
        await self._ensure_ready()
        return await self._repo.session_messages(chat_id, limit, include_deleted)

    @domain_errors
    async def get_message(self, message_id: int) -> MessageRow | None:
        """One message (for ownership checks) or None. Read-only."""
        await self._ensure_ready()
        return await self._repo.get_message(message_id)

    @domain_errors
    async def get_messages(self, message_ids: Sequence[int]) -> list[MessageRow]:
        """The existing messages among `message_ids`, in id order (the rows `submit` just
        stored, for `POST /chat/chat/message`). Read-only."""
        await self._ensure_ready()
        return await self._repo.get_messages(list(message_ids))

    @domain_errors
    async def find_client_message(self, chat_id: str, client_msg_id: str) -> int | None:
        """The id of the question already stored with this `client_msg_id`, or None: lets a
        re-activated session refuse to run an ask twice. Read-only."""
        await self._ensure_ready()
        return await self._repo.find_client_message(chat_id, client_msg_id)

    @domain_errors
    async def update_message(
        self, message_id: int, message: str, category: str | None = None
    ) -> bool:
        """Replace a message's text (and category); False when missing. Last writer wins."""
        await self._ensure_ready()
        return await self._repo.update_message(message_id, message, category)

    @domain_errors
    async def delete_message(self, message_id: int) -> bool:
        """Delete a message and take its feedback off the session counters, atomically;
        False when missing. Safe against concurrent feedback on the same message (row lock)."""
        await self._ensure_ready()
        return await self._repo.delete_message(message_id)

    @domain_errors
    async def set_liked(self, message_id: int, liked: int) -> int | None:
        """Set `liked` (0/1/2) and move the session counters (API.md §5) in one transaction;
        returns the previous value, None when the message is missing. Concurrent likes on one
        message serialize on its row lock, so counters never drift. InvalidInput for another
        value."""
        await self._ensure_ready()
        return await self._repo.set_liked(message_id, liked)

    @domain_errors
    async def mark_copied(self, message_id: int) -> bool | None:
        """True on the first copy (session `copied` + 1), False later, None when missing.
        Concurrent copies count once (conditional UPDATE)."""
        await self._ensure_ready()
        return await self._repo.mark_copied(message_id)

    @domain_errors
    async def set_comment(self, message_id: int, comment: str) -> bool:
        """Store the user's comment (own column, `remark` untouched); False when missing,
        InvalidInput beyond 4096 characters. Last writer wins."""
        await self._ensure_ready()
        return await self._repo.set_comment(message_id, comment)

    # Sessions.

    @domain_errors
    async def get_session(self, chat_id: str) -> SessionRow | None:
        """The session row (check `is_delete`) or None. Read-only."""
        await self._ensure_ready()
        return await self._repo.get_session(chat_id)

    @domain_errors
    async def list_chats(
        self, user_id: int, flow_types: Sequence[int] = (), page: int = 1, limit: int = 10
    ) -> list[ChatListItem]:
        """The user's live sessions, newest update first, with latest messages. Read-only."""
        await self._ensure_ready()
        return await self._repo.list_chats(user_id, list(flow_types), page, limit)

    @domain_errors
    async def rename_session(self, chat_id: str, name: str) -> bool:
        """Set a live session's name; False when none. Last writer wins."""
        await self._ensure_ready()
        return await self._repo.rename_session(chat_id, name)

    @domain_errors
    async def delete_session(self, chat_id: str) -> bool:
        """Soft delete a live session; False when none (a repeat delete is a no-op)."""
        await self._ensure_ready()
        return await self._repo.delete_session(chat_id)

    @domain_errors
    async def copy_session(
        self, chat_id: str, user_id: int | None, new_chat_id: str | None = None
    ) -> str | None:
        """Copy a live session with all its messages (one INSERT ... SELECT per table, one
        transaction); returns the new chat id (uuid4 hex unless given), None when the source
        is not live. Retrying with the same `new_chat_id` copies nothing twice."""
        await self._ensure_ready()
        new_id = new_chat_id or uuid.uuid4().hex
        copied = await self._repo.copy_session(chat_id, new_id, user_id)
        return new_id if copied else None

    @domain_errors
    async def audit_sessions(
        self, f: SessionFilter, page: int = 1, limit: int = 20
    ) -> Page[SessionRow]:
        """Sessions by owner, app, feedback and creation date, with the total. Read-only."""
        await self._ensure_ready()
        return await self._repo.audit_sessions(f, page, limit)

    @domain_errors
    async def stats(self, f: StatsFilter) -> ChatStats:
        """Sessions, messages, users and feedback, per UTC day, aggregated in SQL. Read-only."""
        await self._ensure_ready()
        return await self._repo.stats(f)

    # Apps.

    @domain_errors
    async def create_flow(self, flow: FlowRecord) -> FlowRecord:
        """Insert a flow with its version-1 row; Conflict when the id exists."""
        await self._ensure_ready()
        return await self._repo.create_flow(flow)

    @domain_errors
    async def update_flow(self, flow_id: str, changes: FlowChanges) -> FlowRecord | None:
        """PATCH a live flow (new `data` -> new version); None when missing. Concurrent PATCHes
        serialize on the flow row; each data change gets its own version number."""
        await self._ensure_ready()
        return await self._repo.update_flow(flow_id, changes)

    @domain_errors
    async def delete_flow(self, flow_id: str) -> bool:
        """Soft delete a flow and all its sessions in one transaction; False when missing."""
        await self._ensure_ready()
        return await self._repo.delete_flow(flow_id)

    @domain_errors
    async def list_flows(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[FlowRecord]:
        """Live flows the user owns or that are public (None: all, for admins). Read-only."""
        await self._ensure_ready()
        return await self._repo.list_flows(user_id, page, limit)

    @domain_errors
    async def flow_versions(self, flow_id: str) -> list[FlowVersionRecord]:
        """Every stored graph of a flow, oldest first. Read-only."""
        await self._ensure_ready()
        return await self._repo.flow_versions(flow_id)

    @domain_errors
    async def create_assistant(self, assistant: AssistantRecord) -> AssistantRecord:
        """Insert an assistant; Conflict when the id exists."""
        await self._ensure_ready()
        return await self._repo.create_assistant(assistant)

    @domain_errors
    async def get_assistant(self, assistant_id: str) -> AssistantRecord | None:
        """The live assistant or None. Read-only."""
        await self._ensure_ready()
        return await self._repo.get_assistant(assistant_id)

    @domain_errors
    async def update_assistant(
        self, assistant_id: str, changes: AssistantChanges
    ) -> AssistantRecord | None:
        """PATCH a live assistant; None when missing. Last writer wins per field."""
        await self._ensure_ready()
        return await self._repo.update_assistant(assistant_id, changes)

    @domain_errors
    async def delete_assistant(self, assistant_id: str) -> bool:
        """Soft delete an assistant and all its sessions; False when missing."""
        await self._ensure_ready()
        return await self._repo.delete_assistant(assistant_id)

    @domain_errors
    async def list_assistants(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[AssistantRecord]:
        """Live assistants the user owns or that are public (None: all). Read-only."""
        await self._ensure_ready()
        return await self._repo.list_assistants(user_id, page, limit)

    @domain_errors
    async def list_online_apps(
        self, user_id: int | None, keyword: str | None = None, page: int = 1, limit: int = 10
    ) -> list[AppSummary]:
        """Online flows and assistants the user may use, newest first. Read-only."""
        await self._ensure_ready()
        return await self._repo.list_online_apps(user_id, keyword, page, limit)

    # Users and events.

    @domain_errors
    async def create_user(
        self, user_name: str, password_hash: str, role: str | None = None
    ) -> UserRecord | None:
        """A new user (the first one is admin when `role` is None); None when the name is
        taken. Two concurrent first registrations may both become admin (documented)."""
        await self._ensure_ready()
        return await self._repo.create_user(user_name, password_hash, role)

    @domain_errors
    async def get_user_by_name(self, user_name: str) -> UserRecord | None:
        """A user by name (login) or None. Read-only."""
        await self._ensure_ready()
        return await self._repo.get_user_by_name(user_name)

    @domain_errors
    async def list_telemetry(self, event_type: str, limit: int = 100) -> list[TelemetryRecord]:
        """Newest telemetry events of a type. Read-only."""
        await self._ensure_ready()
        return await self._repo.list_telemetry(event_type, limit)

    @domain_errors
    async def list_audit_log(self, user_id: int, limit: int = 100) -> list[AuditRecord]:
        """A user's newest audit-log entries. Read-only."""
        await self._ensure_ready()
        return await self._repo.list_audit_log(user_id, limit)

    # Server-wide secrets.

    @domain_errors
    async def server_secret(self, name: str) -> str:
        """The server-wide secret `name` (e.g. the JWT signing secret when the operator set
        none), generated on first use (`secrets.token_urlsafe(48)`, 64 characters) and stored
        in the database. Concurrent-safe and idempotent: every replica, node and restart gets
        the same value (insert-if-absent, then read back)."""
        await self._ensure_ready()
        return await self._repo.ensure_server_value(name, secrets.token_urlsafe(48))
