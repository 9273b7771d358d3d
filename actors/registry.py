"""The only module that touches Ray: wraps plain classes as actors, finds them by name, routes a
chat to its session host by rendezvous (highest-random-weight) hashing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import ray

from actors.archiver import FrameArchiver
from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.events import Frame, FrameBatch, WatchPoint
from actors.host import SessionHost
from actors.placement import ray_options
from actors.session import Ask, SessionKey
from actors.storage_actor import StorageActor
from actors.storage_client import RayStorageClient, call_actor
from storage.frame_archive import RedisFrameArchive

log = logging.getLogger(__name__)
STORAGE_NAME = "raychat-storage"
HOST_PREFIX = "raychat-session-host"
DEDICATED_PREFIX = "raychat-dedicated"
# A call in flight when its host dies is retried on the restarted host this many times: enough
# to ride out a restart, and a call that crashes its host cannot loop forever.
HOST_TASK_RETRIES = 2


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
        storage = RayStorageClient(storage_handle, config.storage_call_timeout_s)
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


def _host(
    name: str,
    config: SessionConfig,
    storage: Any,
    namespace: str,
    redis_url: str | None,
    dedicated: bool,
    resources: dict[str, Any],
) -> Any:
    """A session host's handle, created if it does not exist yet (detached, restarted by Ray)."""
    return (
        ray.remote(_RaySessionHost)
        .options(
            name=name,
            namespace=namespace,
            get_if_exists=True,
            lifetime="detached",
            max_restarts=-1,
            # Calls made while a host restarts wait for the new incarnation (sessions rebuild
            # from storage there) instead of failing, a bounded number of times.
            max_task_retries=HOST_TASK_RETRIES,
            max_concurrency=config.host_max_concurrency,
            **resources,
        )
        .remote(config, storage, dedicated, redis_url)
    )


def session_host(
    index: int, config: SessionConfig, storage: Any, namespace: str, redis_url: str | None = None
) -> Any:
    """Shared session host `index` (no CPU reserved: sessions are mostly waiting on I/O)."""
    name = f"{HOST_PREFIX}-{index}"
    return _host(name, config, storage, namespace, redis_url, False, {"num_cpus": 0})


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
    resources = ray_options(key.dedicated)
    return _host(dedicated_name(key), config, storage, namespace, redis_url, True, resources)


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
        self.storage = RayStorageClient(self.storage_handle, config.storage.call_timeout_s)
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

    async def _host(self, key: SessionKey) -> Any:
        """`host_for` without blocking the event loop: resolving a handle the first time is a
        synchronous `ray.get_actor` (get_if_exists), so it runs in a thread; cached after."""
        if key.dedicated is None:
            index = host_index(key, self.config.sessions.hosts)
            cached = self._hosts.get(index)
            if cached is not None:
                return cached
        return await asyncio.to_thread(self.host_for, key)

    def _timeout(self, extra_s: float = 0.0) -> float | None:
        budget = self.config.sessions.host_call_timeout_s
        return budget + extra_s if budget else None

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
        return int(await call_actor(handle.live_sessions.remote(), self._timeout()))

    async def _live_host(self, key: SessionKey) -> Any | None:
        """The host that may hold `key`, without creating a dedicated host just to find it
        empty (that would start a Ray actor with the flow's resources)."""
        if key.dedicated is None:
            return self.host_for(key)
        try:
            return await asyncio.to_thread(
                ray.get_actor, dedicated_name(key), namespace=self.config.namespace
            )
        except ValueError:
            return None

    async def drop_if_live(self, key: SessionKey) -> bool:
        """Like `drop`, but a missing dedicated host is simply not live."""
        host = await self._live_host(key)
        if host is None:
            return False
        return await call_actor(host.drop.remote(key), self._timeout())  # type: ignore[no-any-return]

    async def refresh_context_if_live(self, key: SessionKey) -> bool:
        """Make a live session rebuild its model context before its next turn (stored messages
        changed over REST). False when it is not live."""
        host = await self._live_host(key)
        if host is None:
            return False
        return await call_actor(host.refresh_context.remote(key), self._timeout())  # type: ignore[no-any-return]

    async def actor_names(self) -> list[str]:
        """Names of raychat's named actors in its namespace (for the monitor page)."""
        actors = await asyncio.to_thread(ray.util.list_named_actors, all_namespaces=True)
        return sorted(a["name"] for a in actors if a["namespace"] == self.config.namespace)

    async def start_turn(self, key: SessionKey, ask: Ask) -> int:
        """Start a turn on the chat's host; raises the session's domain errors."""
        host = await self._host(key)
        return await call_actor(host.start_turn.remote(key, ask), self._timeout())  # type: ignore[no-any-return]

    async def watch(self, key: SessionKey, user_id: int) -> WatchPoint:
        """Let `user_id` watch a chat; returns where its frame log stands. Raises Forbidden."""
        host = await self._host(key)
        return await call_actor(host.watch.remote(key, user_id), self._timeout())  # type: ignore[no-any-return]

    async def stop(self, key: SessionKey, user_id: int) -> bool:
        """Stop the chat's running turn; False when none runs."""
        host = await self._host(key)
        return await call_actor(host.stop.remote(key, user_id), self._timeout())  # type: ignore[no-any-return]

    async def clear_context(self, key: SessionKey, user_id: int) -> int | None:
        """Empty the chat's model context for its next turn."""
        host = await self._host(key)
        return await call_actor(host.clear_context.remote(key, user_id), self._timeout())  # type: ignore[no-any-return]

    async def drop(self, key: SessionKey) -> bool:
        """Stop and forget a live session (its chat was deleted)."""
        host = await self._host(key)
        return await call_actor(host.drop.remote(key), self._timeout())  # type: ignore[no-any-return]

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
        host = await self._host(key)
        ref = host.pull.remote(key, after_seq, timeout_s)
        return await call_actor(ref, self._timeout(timeout_s))  # type: ignore[no-any-return]
