"""Typed async client of the storage actor: awaits its Ray handle, turns Ray failures into
domain errors, and retries what is safe to repeat while the storage actor restarts.

Every call has a deadline (`call_timeout_s`, 0 = none): a storage actor that does not answer in
time is StorageUnavailable (503 + Retry-After on REST), never an endless wait. Creates that are
not safe to repeat (`create_flow`, `create_assistant`, `create_user`, `update_flow`) are not
retried; if the storage actor dies under one, the caller gets StorageUnavailable saying that the
write may have been applied."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import ray

from actors.errors import ChatServiceError, RaychatError, StorageUnavailable
from actors.storage_actor.group_commit import FlushStats
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
    MessageRecord,
    MessageRow,
    Page,
    SessionClaim,
    SessionFilter,
    SessionRecord,
    SessionRow,
    StatsFilter,
    TelemetryRecord,
    UserRecord,
)

SUBMIT_ATTEMPTS = 8
DEFAULT_CALL_TIMEOUT_S = 8.0
AMBIGUOUS_WRITE = (
    "Storage restarted during this write; it may have been applied. Check before retrying"
)


def host_timeout() -> RaychatError:
    """The error of an actor call that did not answer in time (a session host)."""
    return ChatServiceError("The chat service did not answer in time, retry")


def storage_timeout() -> RaychatError:
    """The error of a storage call that did not answer in time."""
    return StorageUnavailable("Storage did not answer in time, retry", retry_after=2)


async def call_actor(
    ref: Any,
    timeout_s: float | None = None,
    on_timeout: Callable[[], RaychatError] = host_timeout,
) -> Any:
    """Await an actor call for at most `timeout_s` (None or 0: no deadline); domain errors come
    back as themselves, Ray failures as ChatServiceError (the actor restarts; the caller may
    retry), a missed deadline as `on_timeout()` (the remote call itself is not cancelled)."""
    try:
        if timeout_s:
            async with asyncio.timeout(timeout_s):
                return await ref
        return await ref
    except TimeoutError:
        raise on_timeout() from None
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, RaychatError):
            raise exc.cause from None
        raise ChatServiceError("internal actor error") from exc
    except ray.exceptions.RayActorError as exc:
        raise ChatServiceError("actor unavailable, retry") from exc


class RayStorageClient:
    """`StoragePort` over the storage actor's handle (awaits Ray object refs)."""

    def __init__(self, handle: Any, call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        self.handle = handle
        self.call_timeout_s = call_timeout_s

    async def _call(self, ref: Any) -> Any:
        # A storage actor that is down or restarting is StorageUnavailable (503), not 13004.
        try:
            return await call_actor(ref, self.call_timeout_s, storage_timeout)
        except ChatServiceError as exc:
            if isinstance(exc.__cause__, ray.exceptions.RayActorError):
                raise StorageUnavailable("Storage is restarting, retry", retry_after=2) from exc
            raise

    async def _once(self, method: str, *args: Any) -> Any:
        """A call that is not safe to repeat: a storage restart under it is ambiguous."""
        try:
            return await call_actor(
                getattr(self.handle, method).remote(*args), self.call_timeout_s, storage_timeout
            )
        except ChatServiceError as exc:
            if isinstance(exc.__cause__, ray.exceptions.RayActorError):
                raise StorageUnavailable(AMBIGUOUS_WRITE, retry_after=2) from exc
            raise

    async def submit(
        self, messages: Sequence[MessageRecord], sessions: Sequence[SessionRecord] = ()
    ) -> list[int]:
        # The storage actor may be restarting: retry with the same rows (row keys make the insert
        # idempotent), so a row is acknowledged exactly once and never lost.
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                async with asyncio.timeout(self.call_timeout_s or None):
                    return await self.handle.submit.remote(list(messages), list(sessions))  # type: ignore[no-any-return]
            except TimeoutError:
                raise storage_timeout() from None
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, RaychatError):
                    raise exc.cause from None
                raise ChatServiceError("storage error") from exc
            except ray.exceptions.RayActorError as exc:
                if attempt == SUBMIT_ATTEMPTS - 1:
                    raise StorageUnavailable("Storage is restarting, retry", retry_after=2) from exc
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")

    async def recent_context(self, chat_id: str, limit: int) -> list[MessageRow]:
        return await self._call(self.handle.recent_context.remote(chat_id, limit))  # type: ignore[no-any-return]

    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        return await self._call(self.handle.get_flow.remote(flow_id))  # type: ignore[no-any-return]

    async def get_assistant(self, assistant_id: str) -> AssistantRecord | None:
        return await self._call(self.handle.get_assistant.remote(assistant_id))  # type: ignore[no-any-return]

    async def put_flow(self, flow: FlowRecord) -> None:
        await self._call(self.handle.put_flow.remote(flow))

    async def history(
        self, chat_id: str, flow_id: str, before_id: int | None, limit: int
    ) -> list[MessageRow]:
        return await self._call(self.handle.history.remote(chat_id, flow_id, before_id, limit))  # type: ignore[no-any-return]

    async def ensure_user(self, user_name: str, role: str, password_hash: str = "") -> UserRecord:
        return await self._call(self.handle.ensure_user.remote(user_name, role, password_hash))  # type: ignore[no-any-return]

    async def session_owner(self, chat_id: str) -> tuple[int | None, str] | None:
        return await self._call(self.handle.session_owner.remote(chat_id))  # type: ignore[no-any-return]

    async def get_user(self, user_id: int) -> UserRecord | None:
        return await self._call(self.handle.get_user.remote(user_id))  # type: ignore[no-any-return]

    async def ping(self) -> bool:
        return await self._call(self.handle.ping.remote())  # type: ignore[no-any-return]

    # Storage operations for the REST layer (issue 3). Reads and idempotent writes are retried
    # while the storage actor restarts; creates are not (a retry would report a conflict): a
    # restart under one is StorageUnavailable with AMBIGUOUS_WRITE (see `_once`).

    async def _retrying(self, method: str, *args: Any) -> Any:
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                return await call_actor(
                    getattr(self.handle, method).remote(*args), self.call_timeout_s, storage_timeout
                )
            except ChatServiceError as exc:
                if not isinstance(exc.__cause__, ray.exceptions.RayActorError):
                    raise
                if attempt == SUBMIT_ATTEMPTS - 1:
                    raise StorageUnavailable("Storage is restarting, retry", retry_after=2) from exc
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")

    async def submit_events(
        self, telemetry: Sequence[TelemetryRecord] = (), audit: Sequence[AuditRecord] = ()
    ) -> None:
        await self._retrying("submit_events", list(telemetry), list(audit))

    async def history_any(
        self, chat_id: str, flow_id: str, before_id: int | None, limit: int
    ) -> list[MessageRow]:
        """History including soft-deleted chats (audit reads)."""
        return await self._retrying("history", chat_id, flow_id, before_id, limit, True)  # type: ignore[no-any-return]

    async def session_messages(
        self, chat_id: str, limit: int = 1000, include_deleted: bool = False
    ) -> list[MessageRow]:
        return await self._retrying("session_messages", chat_id, limit, include_deleted)  # type: ignore[no-any-return]

    async def get_message(self, message_id: int) -> MessageRow | None:
        return await self._retrying("get_message", message_id)  # type: ignore[no-any-return]

    async def get_messages(self, message_ids: Sequence[int]) -> list[MessageRow]:
        return await self._retrying("get_messages", list(message_ids))  # type: ignore[no-any-return]

    async def find_client_message(self, chat_id: str, client_msg_id: str) -> int | None:
        return await self._retrying("find_client_message", chat_id, client_msg_id)  # type: ignore[no-any-return]

    async def update_message(
        self, message_id: int, message: str, category: str | None = None
    ) -> bool:
        return await self._retrying("update_message", message_id, message, category)  # type: ignore[no-any-return]

    async def delete_message(self, message_id: int) -> bool:
        return await self._retrying("delete_message", message_id)  # type: ignore[no-any-return]

    async def set_liked(self, message_id: int, liked: int) -> int | None:
        return await self._retrying("set_liked", message_id, liked)  # type: ignore[no-any-return]

    async def mark_copied(self, message_id: int) -> bool | None:
        return await self._retrying("mark_copied", message_id)  # type: ignore[no-any-return]

    async def set_comment(self, message_id: int, comment: str) -> bool:
        return await self._retrying("set_comment", message_id, comment)  # type: ignore[no-any-return]

    async def claim_session(self, record: SessionRecord) -> SessionClaim:
        # Idempotent (insert-or-verify): safe to retry while the storage actor restarts.
        return await self._retrying("claim_session", record)  # type: ignore[no-any-return]

    async def get_session(self, chat_id: str) -> SessionRow | None:
        return await self._retrying("get_session", chat_id)  # type: ignore[no-any-return]

    async def list_chats(
        self, user_id: int, flow_types: Sequence[int] = (), page: int = 1, limit: int = 10
    ) -> list[ChatListItem]:
        return await self._retrying("list_chats", user_id, list(flow_types), page, limit)  # type: ignore[no-any-return]

    async def rename_session(self, chat_id: str, name: str) -> bool:
        return await self._retrying("rename_session", chat_id, name)  # type: ignore[no-any-return]

    async def delete_session(self, chat_id: str) -> bool:
        return await self._retrying("delete_session", chat_id)  # type: ignore[no-any-return]

    async def copy_session(self, chat_id: str, user_id: int | None) -> str | None:
        """The new chat id, or None when the source is not a live session. The id is chosen
        here, so a retry after a storage restart copies nothing twice."""
        new_chat_id = uuid.uuid4().hex
        return await self._retrying("copy_session", chat_id, user_id, new_chat_id)  # type: ignore[no-any-return]

    async def audit_sessions(
        self, f: SessionFilter, page: int = 1, limit: int = 20
    ) -> Page[SessionRow]:
        return await self._retrying("audit_sessions", f, page, limit)  # type: ignore[no-any-return]

    async def stats(self, f: StatsFilter) -> ChatStats:
        return await self._retrying("stats", f)  # type: ignore[no-any-return]

    async def create_flow(self, flow: FlowRecord) -> FlowRecord:
        return await self._once("create_flow", flow)  # type: ignore[no-any-return]

    async def update_flow(self, flow_id: str, changes: FlowChanges) -> FlowRecord | None:
        # Not retried: a repeated PATCH with new data would add a second version.
        return await self._once("update_flow", flow_id, changes)  # type: ignore[no-any-return]

    async def delete_flow(self, flow_id: str) -> bool:
        return await self._retrying("delete_flow", flow_id)  # type: ignore[no-any-return]

    async def list_flows(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[FlowRecord]:
        return await self._retrying("list_flows", user_id, page, limit)  # type: ignore[no-any-return]

    async def flow_versions(self, flow_id: str) -> list[FlowVersionRecord]:
        return await self._retrying("flow_versions", flow_id)  # type: ignore[no-any-return]

    async def create_assistant(self, assistant: AssistantRecord) -> AssistantRecord:
        return await self._once("create_assistant", assistant)  # type: ignore[no-any-return]

    async def update_assistant(
        self, assistant_id: str, changes: AssistantChanges
    ) -> AssistantRecord | None:
        return await self._retrying("update_assistant", assistant_id, changes)  # type: ignore[no-any-return]

    async def delete_assistant(self, assistant_id: str) -> bool:
        return await self._retrying("delete_assistant", assistant_id)  # type: ignore[no-any-return]

    async def list_assistants(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[AssistantRecord]:
        return await self._retrying("list_assistants", user_id, page, limit)  # type: ignore[no-any-return]

    async def list_online_apps(
        self, user_id: int | None, keyword: str | None = None, page: int = 1, limit: int = 10
    ) -> list[AppSummary]:
        return await self._retrying("list_online_apps", user_id, keyword, page, limit)  # type: ignore[no-any-return]

    async def create_user(
        self, user_name: str, password_hash: str, role: str | None = None
    ) -> UserRecord | None:
        return await self._once("create_user", user_name, password_hash, role)  # type: ignore[no-any-return]

    async def server_secret(self, name: str) -> str:
        return await self._retrying("server_secret", name)  # type: ignore[no-any-return]

    async def get_user_by_name(self, user_name: str) -> UserRecord | None:
        return await self._retrying("get_user_by_name", user_name)  # type: ignore[no-any-return]

    async def list_telemetry(self, event_type: str, limit: int = 100) -> list[TelemetryRecord]:
        return await self._retrying("list_telemetry", event_type, limit)  # type: ignore[no-any-return]

    async def list_audit_log(self, user_id: int, limit: int = 100) -> list[AuditRecord]:
        return await self._retrying("list_audit_log", user_id, limit)  # type: ignore[no-any-return]

    # Scrape-time reads for `/metrics` (never retried: a scrape must answer quickly).

    async def queue_depth(self) -> int:
        return await self._call(self.handle.queue_depth.remote())  # type: ignore[no-any-return]

    async def flush_stats(self) -> list[FlushStats]:
        return await self._call(self.handle.flush_stats.remote())  # type: ignore[no-any-return]
