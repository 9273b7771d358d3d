"""The only module that touches Ray: wraps plain classes as actors, finds them by name, routes a
chat to its session host by rendezvous (highest-random-weight) hashing."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

import ray

from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.errors import ChatServiceError, RaychatError
from actors.events import FrameBatch, WatchPoint
from actors.host import SessionHost
from actors.placement import ray_options
from actors.session import Ask, SessionKey
from actors.storage_actor import StorageActor
from storage.records import (
    AssistantRecord,
    FlowRecord,
    MessageRecord,
    MessageRow,
    SessionRecord,
    UserRecord,
)

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


class _RaySessionHost(SessionHost):
    """SessionHost whose storage is the storage actor (constructed inside the host process).

    A dedicated host (one session) exits when its session is passivated."""

    def __init__(self, config: SessionConfig, storage_handle: Any, dedicated: bool = False) -> None:
        super().__init__(config, RayStorageClient(storage_handle), _exit if dedicated else None)


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


def session_host(index: int, config: SessionConfig, storage: Any, namespace: str) -> Any:
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
        .remote(config, storage)
    )


def _exit() -> None:
    # Called from the host's own sweeper task: ends this actor for good (no restart).
    ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


def dedicated_host(key: SessionKey, config: SessionConfig, storage: Any, namespace: str) -> Any:
    """The dedicated Ray actor of one session, created with the flow's resources if missing."""
    assert key.dedicated is not None
    digest = hashlib.blake2b(key.text.encode(), digest_size=12).hexdigest()
    return (
        ray.remote(_RaySessionHost)
        .options(
            name=f"{DEDICATED_PREFIX}-{digest}",
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
        .remote(config, storage, True)
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
        self._hosts: dict[int, Any] = {}

    def host_for(self, key: SessionKey) -> Any:
        if key.dedicated is not None:
            return dedicated_host(
                key, self.config.sessions, self.storage_handle, self.config.namespace
            )
        index = host_index(key, self.config.sessions.hosts)
        if index not in self._hosts:
            self._hosts[index] = session_host(
                index, self.config.sessions, self.storage_handle, self.config.namespace
            )
        return self._hosts[index]

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

    async def pull(self, key: SessionKey, after_seq: int, timeout_s: float) -> FrameBatch:
        """Long-poll the chat's frames after `after_seq`."""
        return await _call(self.host_for(key).pull.remote(key, after_seq, timeout_s))  # type: ignore[no-any-return]
