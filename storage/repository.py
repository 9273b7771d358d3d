"""The repository: the single definition of the storage surface.

`Operations` are the storage operations every layer serves with the same signature: the SQL
repository (`storage/sql/repository.py`), the in-memory fake (`storage/memory/`), the storage
actor (`actors/storage_actor/actor.py`, which generates its methods from these) and the actor's
Ray client (`actors/ray/storage_client.py`, likewise). `Repository` adds what only a backend has:
its lifecycle, the group-commit batch write and the server-value primitive (the actor wraps
those in `ping`/`shutdown`, `submit`/`submit_events` and `server_secret`). `tests/contract` is the
one suite every implementation passes.

Each operation is one short transaction or one read and may run concurrently with every other;
methods return plain records, never ORM objects, and report "not found" as None/False rather
than raising. Failures: bad arguments are `ValueError` (InvalidInput past the storage actor),
a database that cannot be used a driver error (StorageUnavailable past the storage actor).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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
    HistoryQuery,
    MessageRow,
    Page,
    SessionClaim,
    SessionFilter,
    SessionRecord,
    SessionRow,
    StatsFilter,
    TelemetryRecord,
    UserRecord,
    WriteBatch,
)


class Operations(Protocol):
    """The storage operations, the same on every layer (see the module docstring)."""

    # Messages.

    async def history(self, query: HistoryQuery) -> list[MessageRow]:
        """A history page, newest first; [] for a missing, other-flow or soft-deleted chat
        (unless `include_deleted`, for audit reads). Read-only."""

    async def session_messages(
        self, chat_id: str, limit: int = 1000, include_deleted: bool = False
    ) -> list[MessageRow]:
        """The chat's newest `limit` messages, oldest first ([] if none). Read-only."""

    async def get_message(self, message_id: int) -> MessageRow | None:
        """One message (for ownership checks) or None. Read-only."""

    async def get_messages(self, message_ids: Sequence[int]) -> list[MessageRow]:
        """The existing messages among `message_ids`, in id order (the rows `submit` just
        stored, for `POST /chat/chat/message`). Read-only."""

    async def find_client_message(self, chat_id: str, client_msg_id: str) -> int | None:
        """The id of the question already stored with this `client_msg_id`, or None: lets a
        re-activated session refuse to run an ask twice. Read-only."""

    async def update_message(
        self, message_id: int, message: str, category: str | None = None
    ) -> bool:
        """Replace a message's text (and category); False when missing. Last writer wins."""

    async def delete_message(self, message_id: int) -> bool:
        """Delete a message and take its feedback off the session counters, atomically;
        False when missing. Safe against concurrent feedback on the same message (row lock)."""

    async def set_liked(self, message_id: int, liked: int) -> int | None:
        """Set `liked` (0/1/2) and move the session counters (API.md §5) in one transaction;
        returns the previous value, None when the message is missing. Concurrent likes on one
        message serialize on its row lock, so counters never drift. InvalidInput for another
        value."""

    async def mark_copied(self, message_id: int) -> bool | None:
        """True on the first copy (session `copied` + 1), False later, None when missing.
        Concurrent copies count once (conditional UPDATE)."""

    async def set_comment(self, message_id: int, comment: str) -> bool:
        """Store the user's comment (own column, `remark` untouched); False when missing,
        InvalidInput beyond 4096 characters. Last writer wins."""

    # Sessions.

    async def claim_session(self, record: SessionRecord) -> SessionClaim:
        """Create the chat's session row unless it exists and return who owns it (the first
        creator; ownership never changes). Concurrent claims of one chat id agree on one
        owner (insert-or-verify in one transaction); idempotent, so callers may retry."""

    async def session_owner(self, chat_id: str) -> tuple[int | None, str] | None:
        """`(user_id, flow_id)` of a chat (soft-deleted too) or None. Read-only."""

    async def get_session(self, chat_id: str) -> SessionRow | None:
        """The session row (check `is_delete`) or None. Read-only."""

    async def list_chats(
        self, user_id: int, flow_types: Sequence[int] = (), page: int = 1, limit: int = 10
    ) -> list[ChatListItem]:
        """The user's live sessions, newest update first, with latest messages. Read-only."""

    async def rename_session(self, chat_id: str, name: str) -> bool:
        """Set a live session's name; False when none. Last writer wins."""

    async def delete_session(self, chat_id: str) -> bool:
        """Soft delete a live session; False when none (a repeat delete is a no-op)."""

    async def copy_session(self, chat_id: str, new_chat_id: str, user_id: int | None) -> bool:
        """Copy a live session with all its messages to `new_chat_id` for `user_id` (one
        INSERT ... SELECT per table, one transaction); False when the source is not live.
        Retrying with the same `new_chat_id` copies nothing twice (the caller picks the id)."""

    async def audit_sessions(
        self, f: SessionFilter, page: int = 1, limit: int = 20
    ) -> Page[SessionRow]:
        """Sessions by owner, app, feedback and creation date, with the total. Read-only."""

    async def stats(self, f: StatsFilter) -> ChatStats:
        """Sessions, messages, users and feedback, per UTC day, aggregated in SQL. Read-only."""

    # Apps.

    async def create_flow(self, flow: FlowRecord) -> FlowRecord:
        """Insert a flow with its version-1 row; Conflict when the id exists."""

    async def put_flow(self, flow: FlowRecord) -> None:
        """Insert or replace a flow (demo data, tests). Last writer wins."""

    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        """The live flow or None. Read-only."""

    async def update_flow(self, flow_id: str, changes: FlowChanges) -> FlowRecord | None:
        """PATCH a live flow (new `data` -> new version); None when missing. Concurrent PATCHes
        serialize on the flow row; each data change gets its own version number."""

    async def delete_flow(self, flow_id: str) -> bool:
        """Soft delete a flow and all its sessions in one transaction; False when missing."""

    async def list_flows(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[FlowRecord]:
        """Live flows the user owns or that are public (None: all, for admins). Read-only."""

    async def flow_versions(self, flow_id: str) -> list[FlowVersionRecord]:
        """Every stored graph of a flow, oldest first. Read-only."""

    async def create_assistant(self, assistant: AssistantRecord) -> AssistantRecord:
        """Insert an assistant; Conflict when the id exists."""

    async def get_assistant(self, assistant_id: str) -> AssistantRecord | None:
        """The live assistant or None. Read-only."""

    async def update_assistant(
        self, assistant_id: str, changes: AssistantChanges
    ) -> AssistantRecord | None:
        """PATCH a live assistant; None when missing. Last writer wins per field."""

    async def delete_assistant(self, assistant_id: str) -> bool:
        """Soft delete an assistant and all its sessions; False when missing."""

    async def list_assistants(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[AssistantRecord]:
        """Live assistants the user owns or that are public (None: all). Read-only."""

    async def list_online_apps(
        self, user_id: int | None, keyword: str | None = None, page: int = 1, limit: int = 10
    ) -> list[AppSummary]:
        """Online flows and assistants the user may use, newest first. Read-only."""

    # Users and events.

    async def ensure_user(self, user_name: str, role: str, password_hash: str) -> UserRecord:
        """The named user, created if missing (unique name: concurrent calls agree)."""

    async def create_user(
        self, user_name: str, password_hash: str, role: str | None = None
    ) -> UserRecord | None:
        """A new user (the first one is admin when `role` is None); None when the name is
        taken. Two concurrent first registrations may both become admin (documented)."""

    async def get_user(self, user_id: int) -> UserRecord | None:
        """A user by id or None. Read-only."""

    async def get_user_by_name(self, user_name: str) -> UserRecord | None:
        """A user by name (login) or None. Read-only."""

    async def list_telemetry(self, event_type: str, limit: int = 100) -> list[TelemetryRecord]:
        """Newest telemetry events of a type. Read-only."""

    async def list_audit_log(self, user_id: int, limit: int = 100) -> list[AuditRecord]:
        """A user's newest audit-log entries. Read-only."""


class Repository(Operations, Protocol):
    """A storage backend: the operations plus its lifecycle, the batch write and the
    server-value primitive. See the SQL mixins in `storage/sql/` for each method's statements."""

    async def ping(self) -> None:
        """Return when the database answers; raise its error otherwise."""

    async def close(self) -> None:
        """Release connections (the backend is not used again)."""

    async def bulk_write(self, batch: WriteBatch) -> dict[str, int]:
        """One group-commit batch in one transaction; `row_key -> id` of every message
        (existing keys keep their id: idempotent)."""

    async def ensure_server_value(self, name: str, candidate: str) -> str:
        """The stored value `name`, inserting `candidate` when there is none; concurrent
        callers all get the one value stored (insert-if-absent, then read back)."""
