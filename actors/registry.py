"""The only module that touches Ray: wraps plain classes as actors, finds them by name, routes a
chat to its session host by rendezvous (highest-random-weight) hashing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import ray

from actors.archiver import FrameArchiver
from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.errors import ChatServiceError, RaychatError
from actors.events import Frame, FrameBatch, WatchPoint
from actors.group_commit import FlushStats
from actors.host import SessionHost
from actors.placement import ray_options
from actors.session import Ask, SessionKey
from actors.storage_actor import StorageActor
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
from storage.frame_archive import RedisFrameArchive
from storage.records import (
    AppSummary,
    AssistantChanges,
    AssistantRecord,
    FlowChanges,
    FlowRecord,
    FlowVersionRecord,
    MessageRecord,
    MessageRow,
    SessionRecord,
    UserRecord,
)

log = logging.getLogger(__name__)
STORAGE_NAME = "raychat-storage"
HOST_PREFIX = "raychat-session-host"
DEDICATED_PREFIX = "raychat-dedicated"
SUBMIT_ATTEMPTS = 8


async def _call(ref: Any) -> Any:
    """Await an actor call; domain errors come back as themselves, Ray failures as
    ChatServiceError (the actor restarts; the caller may retry)."""
    try:
        return await ref
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, RaychatError):
            raise exc.cause from None
        raise ChatServiceError("internal actor error") from exc
    except ray.exceptions.RayActorError as exc:
        raise ChatServiceError("actor unavailable, retry") from exc


class RayStorageClient:
    """`StoragePort` over the storage actor's handle (awaits Ray object refs)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def submit(
        self, messages: Sequence[MessageRecord], sessions: Sequence[SessionRecord] = ()
    ) -> list[int]:
        # The storage actor may be restarting: retry with the same rows (row keys make the insert
        # idempotent), so a row is acknowledged exactly once and never lost.
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                return await self.handle.submit.remote(list(messages), list(sessions))  # type: ignore[no-any-return]
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, RaychatError):
                    raise exc.cause from None
                raise ChatServiceError("storage error") from exc
            except ray.exceptions.RayActorError as exc:
                if attempt == SUBMIT_ATTEMPTS - 1:
                    raise ChatServiceError("storage unavailable") from exc
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")

    async def recent_context(self, chat_id: str, limit: int) -> list[MessageRow]:
        return await _call(self.handle.recent_context.remote(chat_id, limit))  # type: ignore[no-any-return]

    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        return await _call(self.handle.get_flow.remote(flow_id))  # type: ignore[no-any-return]

    async def get_assistant(self, assistant_id: str) -> AssistantRecord | None:
        return await _call(self.handle.get_assistant.remote(assistant_id))  # type: ignore[no-any-return]

    async def put_flow(self, flow: FlowRecord) -> None:
        await _call(self.handle.put_flow.remote(flow))

    async def history(
        self, chat_id: str, flow_id: str, before_id: int | None, limit: int
    ) -> list[MessageRow]:
        return await _call(self.handle.history.remote(chat_id, flow_id, before_id, limit))  # type: ignore[no-any-return]

    async def ensure_user(self, user_name: str, role: str, password_hash: str = "") -> UserRecord:
        return await _call(self.handle.ensure_user.remote(user_name, role, password_hash))  # type: ignore[no-any-return]

    async def session_owner(self, chat_id: str) -> tuple[int | None, str] | None:
        return await _call(self.handle.session_owner.remote(chat_id))  # type: ignore[no-any-return]

    async def get_user(self, user_id: int) -> UserRecord | None:
        return await _call(self.handle.get_user.remote(user_id))  # type: ignore[no-any-return]

    async def ping(self) -> bool:
        return await _call(self.handle.ping.remote())  # type: ignore[no-any-return]

    # Storage operations for the REST layer (issue 3). Reads and idempotent writes are retried
    # while the storage actor restarts; creates are not (a retry would report a conflict).

    async def _retrying(self, method: str, *args: Any) -> Any:
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                return await _call(getattr(self.handle, method).remote(*args))
            except ChatServiceError as exc:
                if not isinstance(exc.__cause__, ray.exceptions.RayActorError):
                    raise
                if attempt == SUBMIT_ATTEMPTS - 1:
                    raise ChatServiceError("storage unavailable") from exc
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
        return await _call(self.handle.create_flow.remote(flow))  # type: ignore[no-any-return]

    async def update_flow(self, flow_id: str, changes: FlowChanges) -> FlowRecord | None:
        # Not retried: a repeated PATCH with new data would add a second version.
        return await _call(self.handle.update_flow.remote(flow_id, changes))  # type: ignore[no-any-return]

    async def delete_flow(self, flow_id: str) -> bool:
        return await self._retrying("delete_flow", flow_id)  # type: ignore[no-any-return]

    async def list_flows(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[FlowRecord]:
        return await self._retrying("list_flows", user_id, page, limit)  # type: ignore[no-any-return]

    async def flow_versions(self, flow_id: str) -> list[FlowVersionRecord]:
        return await self._retrying("flow_versions", flow_id)  # type: ignore[no-any-return]

    async def create_assistant(self, assistant: AssistantRecord) -> AssistantRecord:
        return await _call(self.handle.create_assistant.remote(assistant))  # type: ignore[no-any-return]

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
        return await _call(self.handle.create_user.remote(user_name, password_hash, role))  # type: ignore[no-any-return]

    async def get_user_by_name(self, user_name: str) -> UserRecord | None:
        return await self._retrying("get_user_by_name", user_name)  # type: ignore[no-any-return]

    async def list_telemetry(self, event_type: str, limit: int = 100) -> list[TelemetryRecord]:
        return await self._retrying("list_telemetry", event_type, limit)  # type: ignore[no-any-return]

    async def list_audit_log(self, user_id: int, limit: int = 100) -> list[AuditRecord]:
        return await self._retrying("list_audit_log", user_id, limit)  # type: ignore[no-any-return]

    # Scrape-time reads for `/metrics` (never retried: a scrape must answer quickly).

    async def queue_depth(self) -> int:
        return await _call(self.handle.queue_depth.remote())  # type: ignore[no-any-return]

    async def flush_stats(self) -> list[FlushStats]:
        return await _call(self.handle.flush_stats.remote())  # type: ignore[no-any-return]


class _RaySessionHost(SessionHost):
    """SessionHost whose storage is the storage actor (constructed inside the host process).

    A dedicated host (one session) exits when its session is passivated."""

    def __init__(
        self,
        config: SessionConfig,
        storage_handle: Any,
        dedicated: bool = False,
        redis_url: str | None = None,
    ) -> None:
        archiver = FrameArchiver(RedisFrameArchive(redis_url)) if redis_url else None
        storage = RayStorageClient(storage_handle)
        super().__init__(config, storage, _exit if dedicated else None, archiver)


def storage_actor(config: StorageConfig, namespace: str) -> Any:
    """The storage actor's handle, created if it does not exist yet.

    Detached so that it outlives the replica that created it; restarted by Ray if it dies.
    """
    return (
        ray.remote(StorageActor)
        .options(
            name=STORAGE_NAME,
            namespace=namespace,
            get_if_exists=True,
            lifetime="detached",
            max_restarts=-1,
            max_concurrency=10_000,
            num_cpus=0,
        )
        .remote(config)
    )


def session_host(
    index: int, config: SessionConfig, storage: Any, namespace: str, redis_url: str | None = None
) -> Any:
    """Session host `index`'s handle, created if it does not exist yet."""
    return (
        ray.remote(_RaySessionHost)
        .options(
            name=f"{HOST_PREFIX}-{index}",
            namespace=namespace,
            get_if_exists=True,
            lifetime="detached",
            max_restarts=-1,
            # Calls made while a host restarts wait for the new incarnation (sessions rebuild
            # from storage there) instead of failing.
            max_task_retries=-1,
            max_concurrency=config.host_max_concurrency,
            num_cpus=0,
        )
        .remote(config, storage, False, redis_url)
    )


def _exit() -> None:
    # Called from the host's own sweeper task: ends this actor for good (no restart).
    ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


def dedicated_name(key: SessionKey) -> str:
    """The Ray actor name of a session's dedicated host."""
    digest = hashlib.blake2b(key.text.encode(), digest_size=12).hexdigest()
    return f"{DEDICATED_PREFIX}-{digest}"


def dedicated_host(
    key: SessionKey,
    config: SessionConfig,
    storage: Any,
    namespace: str,
    redis_url: str | None = None,
) -> Any:
    """The dedicated Ray actor of one session, created with the flow's resources if missing."""
    assert key.dedicated is not None
    return (
        ray.remote(_RaySessionHost)
        .options(
            name=dedicated_name(key),
            namespace=namespace,
            get_if_exists=True,
            lifetime="detached",
            max_restarts=-1,
            # Calls made while a host restarts wait for the new incarnation (sessions rebuild
            # from storage there) instead of failing.
            max_task_retries=-1,
            max_concurrency=config.host_max_concurrency,
            **ray_options(key.dedicated),
        )
        .remote(config, storage, True, redis_url)
    )


def host_index(key: SessionKey, hosts: int) -> int:
    """Rendezvous hash: the host with the highest hash of (host, chat). Adding a host moves
    only the chats that the new host wins."""

    def weight(i: int) -> int:
        digest = hashlib.blake2b(f"{i}|{key.text}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    return max(range(hosts), key=weight)


def kill_all(namespace: str, hosts: int) -> None:
    """Kill raychat's named actors (used by `raychat serve` on exit when joining a cluster)."""
    names = [STORAGE_NAME, *(f"{HOST_PREFIX}-{i}" for i in range(hosts))]
    for name in names:
        try:
            ray.kill(ray.get_actor(name, namespace=namespace))
        except ValueError:
            continue


class Runtime:
    """What an ingress replica holds: handles only, no conversation state."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.storage_handle = storage_actor(config.storage, config.namespace)
        self.storage = RayStorageClient(self.storage_handle)
        self.archive = RedisFrameArchive(config.redis_url) if config.redis_url else None
        self._hosts: dict[int, Any] = {}

    def host_for(self, key: SessionKey) -> Any:
        if key.dedicated is not None:
            return dedicated_host(
                key,
                self.config.sessions,
                self.storage_handle,
                self.config.namespace,
                self.config.redis_url,
            )
        return self._shared_host(host_index(key, self.config.sessions.hosts))

    def _shared_host(self, index: int) -> Any:
        if index not in self._hosts:
            self._hosts[index] = session_host(
                index,
                self.config.sessions,
                self.storage_handle,
                self.config.namespace,
                self.config.redis_url,
            )
        return self._hosts[index]

    async def live_sessions(self) -> dict[int, int]:
        """Sessions live in each shared session host (dedicated hosts hold one each and are
        not counted here). Never creates a host: one that does not exist holds none."""
        indexes = range(self.config.sessions.hosts)
        counts = await asyncio.gather(*(self._live_in(i) for i in indexes))
        return dict(zip(indexes, counts, strict=True))

    async def _live_in(self, index: int) -> int:
        handle: Any = self._hosts.get(index)
        if handle is None:
            try:
                handle = await asyncio.to_thread(
                    ray.get_actor, f"{HOST_PREFIX}-{index}", namespace=self.config.namespace
                )
            except ValueError:
                return 0
        return int(await _call(handle.live_sessions.remote()))

    async def drop_if_live(self, key: SessionKey) -> bool:
        """Like `drop`, but never creates a dedicated host just to find it empty (that would
        start a Ray actor with the flow's resources): a missing one is simply not live."""
        if key.dedicated is None:
            return await self.drop(key)
        try:
            handle = await asyncio.to_thread(
                ray.get_actor, dedicated_name(key), namespace=self.config.namespace
            )
        except ValueError:
            return False
        return await _call(handle.drop.remote(key))  # type: ignore[no-any-return]

    async def actor_names(self) -> list[str]:
        """Names of raychat's named actors in its namespace (for the monitor page)."""
        actors = await asyncio.to_thread(ray.util.list_named_actors, all_namespaces=True)
        return sorted(a["name"] for a in actors if a["namespace"] == self.config.namespace)

    async def start_turn(self, key: SessionKey, ask: Ask) -> int:
        """Start a turn on the chat's host; raises the session's domain errors."""
        return await _call(self.host_for(key).start_turn.remote(key, ask))  # type: ignore[no-any-return]

    async def watch(self, key: SessionKey, user_id: int) -> WatchPoint:
        """Let `user_id` watch a chat; returns where its frame log stands. Raises Forbidden."""
        return await _call(self.host_for(key).watch.remote(key, user_id))  # type: ignore[no-any-return]

    async def stop(self, key: SessionKey, user_id: int) -> bool:
        """Stop the chat's running turn; False when none runs."""
        return await _call(self.host_for(key).stop.remote(key, user_id))  # type: ignore[no-any-return]

    async def clear_context(self, key: SessionKey, user_id: int) -> int | None:
        """Empty the chat's model context for its next turn."""
        return await _call(self.host_for(key).clear_context.remote(key, user_id))  # type: ignore[no-any-return]

    async def drop(self, key: SessionKey) -> bool:
        """Stop and forget a live session (its chat was deleted)."""
        return await _call(self.host_for(key).drop.remote(key))  # type: ignore[no-any-return]

    async def archived_frames(self, key: SessionKey, first_seq: int, last_seq: int) -> list[Frame]:
        """Frames of `key` from the Redis archive ([] without Redis or when it is down)."""
        if self.archive is None:
            return []
        try:
            return await self.archive.read(key.text, first_seq, last_seq)
        except Exception as exc:
            log.warning("frame archive unavailable: %s", exc)
            return []

    async def pull(self, key: SessionKey, after_seq: int, timeout_s: float) -> FrameBatch:
        """Long-poll the chat's frames after `after_seq`."""
        return await _call(self.host_for(key).pull.remote(key, after_seq, timeout_s))  # type: ignore[no-any-return]
