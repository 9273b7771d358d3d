"""The only module that touches Ray: wraps plain classes as actors, finds them by name, routes a
chat to its session host by rendezvous (highest-random-weight) hashing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import ray
from ray import ObjectRef
from ray.actor import ActorHandle

from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.errors import ChatServiceError, RateLimited, RaychatError
from actors.frames import ChannelBatch, Frame, FrameBatch, WatchPoint
from actors.ray.handles import StorageHandle, created, ready, remote
from actors.ray.metrics import RayMetrics
from actors.ray.nodes import HOST_PREFIX, HostDirectory, HostSlot, fixed_slots, pick, slot_options
from actors.ray.storage_client import RayStorageClient, call_actor
from actors.sessions.activity import HostSummary
from actors.sessions.channel import HostChannel, Subscription, Watch
from actors.sessions.frame_archiver import FrameArchiver
from actors.sessions.host import SessionHost
from actors.sessions.placement import profile_of, ray_options
from actors.sessions.session import Ask, SessionKey
from actors.storage_actor.actor import StorageActor
from storage.redis_frames import RedisFrameArchive

log = logging.getLogger(__name__)
# Ray leaves this one unannotated; its signature, declared once here.
_node_ip: Callable[[], str] = ray.util.get_node_ip_address
P = ParamSpec("P")
R = TypeVar("R")
# A SessionHost method, named by the plain class (`SessionHost.watch`): typed calls, no strings.
HostMethod = Callable[Concatenate[SessionHost, P], Awaitable[R]]
STORAGE_NAME = "raychat-storage"
DEDICATED_PREFIX = "raychat-dedicated"
# A call in flight when its host dies is retried on the restarted host this many times: enough
# to ride out a restart, and a call that crashes its host cannot loop forever.
# How many dedicated host handles one ingress replica keeps.
DEDICATED_CACHE = 1024
STORAGE_RESOURCE_SHARE = 0.001  # of RAYCHAT_STORAGE_NODE_RESOURCE the storage actor asks for


class _RaySessionHost(SessionHost):
    """SessionHost whose storage is the storage actor (constructed inside the host process).

    A dedicated host (one session) exits when its session is passivated."""

    def __init__(
        self,
        config: SessionConfig,
        storage_handle: StorageHandle,
        dedicated: bool = False,
        redis_url: str | None = None,
    ) -> None:
        archiver = FrameArchiver(RedisFrameArchive(redis_url)) if redis_url else None
        storage = RayStorageClient(storage_handle, config.storage_call_timeout_s)
        super().__init__(config, storage, _exit if dedicated else None, archiver, RayMetrics())

    async def summary(self, limit: int) -> HostSummary:
        """`SessionHost.summary` plus the node this host runs on."""
        found = await super().summary(limit)
        context = ray.get_runtime_context()
        node = {"node_id": context.get_node_id(), "node_ip": _node_ip()}
        return replace(found, node=node)


# A session host's handle; a call names the plain class's method: `remote(host, SessionHost.watch)`.
HostHandle = ActorHandle[_RaySessionHost]


@dataclass(frozen=True, slots=True)
class HostReport:
    """One shared session host as the monitor sees it: its summary, or why there is none
    (`error`); `summary` is also None for a host that was never started."""

    index: int
    name: str
    summary: HostSummary | None
    error: str | None = None


def storage_actor(config: StorageConfig, namespace: str, node_resource: str = "") -> StorageHandle:
    """The storage actor's handle, created if it does not exist yet.

    Detached so that it outlives the replica that created it; restarted by Ray if it dies, on a
    node with `node_resource` when one is named (it asks for a sliver of it, 0.001).
    """
    placement = {"resources": {node_resource: STORAGE_RESOURCE_SHARE}} if node_resource else {}
    return created(
        ray.remote(StorageActor)
        .options(
            name=STORAGE_NAME,
            namespace=namespace,
            get_if_exists=True,
            lifetime="detached",
            max_restarts=-1,
            max_concurrency=10_000,
            num_cpus=0,
            # No Ray task events for its calls (docs/benchmarks.md, issue 9): each call's events
            # cost the caller CPU and the GCS ~2 KB it keeps, per call, up to 100k calls.
            enable_task_events=False,
            **placement,
        )
        .remote(config, RayMetrics())
    )


def _host(
    name: str,
    config: SessionConfig,
    storage: StorageHandle,
    namespace: str,
    redis_url: str | None,
    dedicated: bool,
    resources: dict[str, Any],
) -> HostHandle:
    """A session host's handle, created if it does not exist yet (detached, restarted by Ray)."""
    return created(
        ray.remote(_RaySessionHost)
        .options(
            name=name,
            namespace=namespace,
            get_if_exists=True,
            lifetime="detached",
            max_restarts=-1,
            # Calls made while a host restarts wait for the new incarnation (sessions rebuild
            # from storage there) instead of failing, a bounded number of times.
            max_task_retries=config.host_task_retries,
            max_concurrency=config.host_max_concurrency,
            enable_task_events=False,  # as for the storage actor
            **resources,
        )
        .remote(config, storage, dedicated, redis_url)
    )


def session_host(
    slot: HostSlot,
    config: SessionConfig,
    storage: StorageHandle,
    namespace: str,
    redis_url: str | None = None,
) -> HostHandle:
    """The shared session host of `slot` (`actors.ray.nodes.slot_options`: no CPU reserved,
    pinned to its node when it has one)."""
    return _host(slot.name, config, storage, namespace, redis_url, False, slot_options(slot))


def _exit() -> None:
    # Called from the host's own sweeper task: ends this actor for good (no restart).
    ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


def dedicated_name(key: SessionKey) -> str:
    """The Ray actor name of a session's dedicated host: `<prefix>-<profile>-<digest>`."""
    digest = hashlib.blake2b(key.text.encode(), digest_size=12).hexdigest()
    return f"{DEDICATED_PREFIX}-{key.dedicated}-{digest}"


def profile_in_name(name: str) -> str | None:
    """The placement profile in a dedicated host's actor name (None for other actors)."""
    head, dash, _digest = name.rpartition("-")
    prefix = f"{DEDICATED_PREFIX}-"
    if not dash or not head.startswith(prefix):
        return None
    return head[len(prefix) :]


def live_dedicated(namespace: str, profile: str) -> int:
    """How many dedicated hosts of `profile` exist in `namespace` (starting ones included).
    Blocking (a GCS call): run it in a thread."""
    actors = ray.util.list_named_actors(all_namespaces=True)
    return sum(
        1 for a in actors if a["namespace"] == namespace and profile_in_name(a["name"]) == profile
    )


def dedicated_host(
    key: SessionKey,
    config: RuntimeConfig,
    storage: StorageHandle,
) -> HostHandle:
    """The dedicated Ray actor of one session on its placement profile, created if missing.

    Blocking (GCS calls): run it in a thread. Raises FlowInvalid for a profile the operator no
    longer defines, RateLimited when the profile already has `max_actors` live actors (the cap
    is checked before creating, so two replicas racing for the last slot may both get one)."""
    assert key.dedicated is not None
    profile = profile_of(key.dedicated, config.placements)
    name = dedicated_name(key)
    try:
        return ray.get_actor(name, namespace=config.namespace)
    except ValueError:
        pass
    cap = profile.max_actors
    if cap and live_dedicated(config.namespace, key.dedicated) >= cap:
        raise RateLimited(
            f"placement profile {key.dedicated!r} is full ({cap} live dedicated sessions); "
            "try again later",
            profile=key.dedicated,
            max_actors=cap,
        )
    options = ray_options(profile)
    return _host(name, config.sessions, storage, config.namespace, config.redis_url, True, options)


def host_index(key: SessionKey, hosts: int) -> int:
    """The index of `key`'s host in the fixed set of `hosts` (rendezvous hash, `nodes.pick`)."""
    slots = fixed_slots(hosts)
    return slots.index(pick(key.text, slots))


def kill_all(namespace: str) -> None:
    """Kill raychat's storage actor and shared session hosts in `namespace`, wherever they run
    (used by `raychat serve` on exit when it started Ray)."""
    for found in ray.util.list_named_actors(all_namespaces=True):
        name = found["name"]
        if found["namespace"] != namespace:
            continue
        if name != STORAGE_NAME and not name.startswith(f"{HOST_PREFIX}-"):
            continue
        try:
            ray.kill(ray.get_actor(name, namespace=namespace))
        except ValueError:
            continue


class Runtime:
    """What an ingress replica holds: handles only, no conversation state."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.storage_handle = storage_actor(
            config.storage, config.namespace, config.nodes.storage_resource
        )
        self.storage = RayStorageClient(self.storage_handle, config.storage.call_timeout_s)
        self.archive = RedisFrameArchive(config.redis_url) if config.redis_url else None
        self.directory = HostDirectory(config.sessions.hosts, config.nodes)
        self._hosts: dict[str, HostHandle] = {}  # shared hosts by actor name
        # Dedicated hosts this replica has seen start (LRU by actor name).
        self._dedicated: OrderedDict[str, HostHandle] = OrderedDict()
        self._dashboard_url: str | None = None
        # One frame channel per session host this replica relays frames from.
        self._channels: dict[str, HostChannel] = {}

    async def host_for(self, key: SessionKey) -> HostHandle:
        """The host of `key`: a shared session host, or the chat's dedicated actor (found or
        created off the event loop, checked to have started, then cached). Raises FlowInvalid
        (unknown profile), RateLimited (profile full), ChatServiceError (did not start)."""
        if key.dedicated is None:
            return await self._shared(await self.directory.pick(key.text))
        name = dedicated_name(key)
        handle = self._dedicated.get(name)
        if handle is None:
            handle = await asyncio.to_thread(dedicated_host, key, self.config, self.storage_handle)
            await self._started(handle, key)
            self._remember(name, handle)
        return handle

    async def _started(self, handle: HostHandle, key: SessionKey) -> None:
        """Wait (bounded) until a dedicated actor runs; one that cannot start (its resources are
        not in the cluster) is removed, so it holds no slot of its profile."""
        timeout = self.config.dedicated_start_timeout_s or None
        try:
            await asyncio.wait_for(_resolved(ready(handle)), timeout)
        except TimeoutError:
            await asyncio.to_thread(ray.kill, handle, no_restart=True)
            raise ChatServiceError(
                f"the dedicated session (placement profile {key.dedicated!r}) did not start "
                f"within {timeout:g} s: the cluster lacks its resources",
                profile=key.dedicated,
            ) from None
        except ray.exceptions.RayActorError as exc:
            raise ChatServiceError(
                f"the dedicated session (placement profile {key.dedicated!r}) could not start",
                profile=key.dedicated,
            ) from exc

    def _remember(self, name: str, handle: HostHandle) -> None:
        self._dedicated[name] = handle
        self._dedicated.move_to_end(name)
        while len(self._dedicated) > DEDICATED_CACHE:
            self._dedicated.popitem(last=False)

    def _timeout(self, extra_s: float = 0.0) -> float | None:
        """The deadline of a host call (`host_call_timeout_s`, plus a long-poll's own wait)."""
        budget = self.config.sessions.host_call_timeout_s
        return budget + extra_s if budget else None

    async def _call(
        self, key: SessionKey, method: HostMethod[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Call `method` on the chat's host, creating a dedicated one if needed. A cached
        dedicated actor that has exited meanwhile (its session was passivated) is replaced once."""
        cached = key.dedicated is not None and dedicated_name(key) in self._dedicated
        slot = await self.directory.pick(key.text) if key.dedicated is None else None
        host = await (self._shared(slot) if slot is not None else self.host_for(key))
        try:
            return await _answer(remote(host, method, *args, **kwargs), self._timeout())
        except ChatServiceError as exc:
            # Retried once where the actor is gone for good: a passivated dedicated host, or a
            # pinned host whose node may be lost (the chat moves to a live host and rebuilds
            # its context from storage there). A fixed host is restarted by Ray instead.
            if not _actor_died(exc) or not (cached if slot is None else self._lost(slot)):
                raise
        self._dedicated.pop(dedicated_name(key), None)
        host = await self.host_for(key)
        return await _answer(remote(host, method, *args, **kwargs), self._timeout())

    async def _call_if_live(
        self,
        key: SessionKey,
        absent: R,
        wait_s: float,
        method: HostMethod[P, R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Call `method` on the host that may hold `key`, never creating a dedicated actor:
        `absent` when it does not exist or has exited. `wait_s`: the call's own wait (a pull's
        long-poll), added to its deadline."""
        slot = await self.directory.pick(key.text) if key.dedicated is None else None
        host = await (self._shared(slot) if slot is not None else self._live_host(key))
        if host is None:
            return absent
        try:
            return await _answer(remote(host, method, *args, **kwargs), self._timeout(wait_s))
        except ChatServiceError as exc:
            # A dedicated host that exited, or a pinned host whose node may be lost, holds no
            # session any more; a fixed host's death is ridden out by Ray's restart instead.
            if not _actor_died(exc) or (slot is not None and not self._lost(slot)):
                raise
            self._dedicated.pop(dedicated_name(key), None)
            return absent

    async def _shared(self, slot: HostSlot) -> HostHandle:
        cached = self._hosts.get(slot.name)
        if cached is not None:
            return cached
        # The first lookup is a synchronous `ray.get_actor` (get_if_exists): off the loop.
        return await asyncio.to_thread(self._shared_host, slot)

    def _shared_host(self, slot: HostSlot) -> HostHandle:
        if slot.name not in self._hosts:
            self._hosts[slot.name] = session_host(
                slot,
                self.config.sessions,
                self.storage_handle,
                self.config.namespace,
                self.config.redis_url,
            )
        return self._hosts[slot.name]

    def _lost(self, slot: HostSlot) -> bool:
        """A call said `slot`'s host died. A pinned host (its node may be gone) is suspected
        and forgotten, so its chats move; returns whether it was pinned."""
        if not self.directory.suspect(slot):
            return False
        self._hosts.pop(slot.name, None)
        log.warning("session host %s died; its node takes no chats for now", slot.name)
        return True

    async def live_sessions(self) -> dict[int, int]:
        """Sessions live in each shared session host, by the host's position in the current
        slots (dedicated hosts hold one each and are not counted here). Never creates a host:
        one that does not exist holds none."""
        slots = await self.directory.slots()
        counts = await asyncio.gather(*(self._live_in(s) for s in slots))
        return dict(enumerate(counts))

    async def warm_hosts(self) -> None:
        """Create every shared session host (if missing) and wait until each has started and run
        its warm-up flow (`SessionHost.warm_up`), so the first chat pays for neither. Raises
        ChatServiceError (a host did not answer within `host_call_timeout_s`). Concurrent-safe
        (creation is get-if-exists)."""
        handles = [await self._shared(s) for s in await self.directory.slots()]
        await asyncio.gather(
            *(_answer(remote(h, SessionHost.warm_up), self._timeout()) for h in handles)
        )

    async def _live_in(self, slot: HostSlot) -> int:
        handle = self._hosts.get(slot.name)
        if handle is None:
            try:
                handle = await asyncio.to_thread(self._existing, slot.name)
            except ValueError:
                return 0
        return await _answer(remote(handle, SessionHost.live_sessions), self._timeout())

    async def host_reports(self, limit: int) -> list[HostReport]:
        """Every shared host's `summary(limit)`, asked concurrently, each call bounded by
        `host_call_timeout_s`. Never creates a host; a host that fails or times out is reported
        with its error instead of failing the whole answer."""
        slots = await self.directory.slots()
        return list(await asyncio.gather(*(self._report(i, s, limit) for i, s in enumerate(slots))))

    async def _report(self, index: int, slot: HostSlot, limit: int) -> HostReport:
        name = slot.name
        handle = self._hosts.get(name)
        try:
            if handle is None:
                handle = await asyncio.to_thread(self._existing, name)
            found = await _answer(remote(handle, SessionHost.summary, limit), self._timeout())
        except ValueError:
            return HostReport(index, name, None)
        except RaychatError as exc:
            return HostReport(index, name, None, exc.message)
        return HostReport(index, name, found)

    async def _live_host(self, key: SessionKey) -> HostHandle | None:
        """The host that may hold `key`, without creating a dedicated host just to find it
        empty (that would start a Ray actor with the flow's resources)."""
        if key.dedicated is None:
            return await self.host_for(key)
        name = dedicated_name(key)
        if name in self._dedicated:
            return self._dedicated[name]
        try:
            return await asyncio.to_thread(self._existing, name)
        except ValueError:
            return None

    def _existing(self, name: str) -> HostHandle:
        """The host actor called `name` (a blocking GCS call); ValueError when there is none."""
        handle: HostHandle = ray.get_actor(name, namespace=self.config.namespace)
        return handle

    async def drop_if_live(self, key: SessionKey) -> bool:
        """Like `drop`, but a missing dedicated host is simply not live. A dedicated host exits
        when its session is dropped (the drop's answer may be lost with it)."""
        return await self._call_if_live(key, False, 0.0, SessionHost.drop, key)

    async def refresh_context_if_live(self, key: SessionKey) -> bool:
        """Make a live session rebuild its model context before its next turn (stored messages
        changed over REST). False when it is not live."""
        return await self._call_if_live(key, False, 0.0, SessionHost.refresh_context, key)

    async def ray_dashboard_url(self) -> str | None:
        """The Ray dashboard's address (`host:port`) when it runs, read once found from the
        GCS key-value store (off the event loop); None when it does not run or cannot be read."""
        if self._dashboard_url is None:
            try:
                self._dashboard_url = await asyncio.to_thread(_dashboard_address)
            except Exception as exc:  # the monitor must answer without it
                log.warning("ray dashboard address unavailable: %s", type(exc).__name__)
        return self._dashboard_url

    async def actor_names(self) -> list[str]:
        """Names of raychat's named actors in its namespace (for the monitor page)."""
        actors = await asyncio.to_thread(ray.util.list_named_actors, all_namespaces=True)
        return sorted(a["name"] for a in actors if a["namespace"] == self.config.namespace)

    async def start_turn(self, key: SessionKey, ask: Ask) -> int:
        """Start a turn on the chat's host; raises the session's domain errors."""
        return await self._call(key, SessionHost.start_turn, key, ask)

    async def watch(self, key: SessionKey, user_id: int) -> WatchPoint:
        """Let `user_id` watch a chat; returns where its frame log stands. Raises Forbidden."""
        return await self._call(key, SessionHost.watch, key, user_id)

    async def stop(self, key: SessionKey, user_id: int) -> bool:
        """Stop the chat's running turn; False when none runs."""
        return await self._call_if_live(key, False, 0.0, SessionHost.stop, key, user_id)

    async def clear_context(self, key: SessionKey, user_id: int) -> int | None:
        """Empty the chat's model context for its next turn."""
        return await self._call(key, SessionHost.clear_context, key, user_id)

    async def drop(self, key: SessionKey) -> bool:
        """Stop and forget a live session (its chat was deleted)."""
        return await self.drop_if_live(key)

    async def archived_frames(self, key: SessionKey, first_seq: int, last_seq: int) -> list[Frame]:
        """Frames of `key` from the Redis archive ([] without Redis or when it is down)."""
        if self.archive is None:
            return []
        try:
            # The archive holds what this runtime's frame logs wrote: frames, as JSON.
            return cast(list[Frame], await self.archive.read(key.text, first_seq, last_seq))
        except Exception as exc:
            log.warning("frame archive unavailable: %s", exc)
            return []

    async def subscribe(self, key: SessionKey, user_id: int, after_seq: int) -> Subscription:
        """Relay `key`'s frames after `after_seq` through the replica's one frame channel to the
        chat's host (never creates a dedicated host: one that is gone ends the subscription
        with `live=False`). Ownership is checked on the host when the chat joins the channel."""
        name = dedicated_name(key) if key.dedicated is not None else None
        slot = await self.directory.pick(key.text) if name is None else None
        label = slot.name if slot is not None else dedicated_name(key)
        channel = self._channels.get(label)
        if channel is None or channel.closed:
            host = await (self._shared(slot) if slot is not None else self._live_host(key))
            if host is None:
                return HostChannel(_no_poll, _no_watch, 0.0).closed_sub(key)
            self._prune_channels()
            channel = self._channels[label] = self._channel(host, slot)
        return channel.subscribe(key, user_id, after_seq)

    def _channel(self, host: HostHandle, slot: HostSlot | None) -> HostChannel:
        """The frame channel to `host` (`slot` None: a dedicated host). One to a dedicated host
        ends when the host has exited (its session was passivated), one to a pinned host when
        the host died (its node may be lost: the chats move); one to a fixed shared host
        retries, as Ray restarts it."""
        wait_s = self.config.sessions.pull_timeout_s

        async def poll(
            channel_id: str,
            watch: Watch | None,
            cursors: dict[SessionKey, int],
            remove: list[SessionKey],
            timeout_s: float,
        ) -> ChannelBatch:
            ref = remote(
                host, SessionHost.pull_channel, channel_id, watch, cursors, remove, timeout_s
            )
            return await _answer(ref, self._timeout(wait_s))

        async def watch(channel_id: str, chats: Watch) -> ChannelBatch:
            return await _answer(
                remote(host, SessionHost.watch_channel, channel_id, chats), self._timeout()
            )

        def pinned_gone(exc: BaseException) -> bool:
            return slot is not None and _actor_died(exc) and self._lost(slot)

        most = self.config.sessions.frame_log_max_frames
        gone = _actor_died if slot is None else pinned_gone
        return HostChannel(poll, watch, wait_s, max_pending_frames=most, host_gone=gone)

    def _prune_channels(self) -> None:
        """Forget closed channels, and empty ones to dedicated hosts (those come and go)."""
        for label in [
            k
            for k, c in self._channels.items()
            if c.closed or (k.startswith(DEDICATED_PREFIX) and c.chats == 0)
        ]:
            del self._channels[label]

    def channel_polls(self) -> int:
        """Frame-channel polls this replica has made (Ray calls for relaying frames)."""
        return sum(c.polls for c in self._channels.values())

    async def pull(
        self, key: SessionKey, user_id: int, after_seq: int, timeout_s: float
    ) -> FrameBatch:
        """Long-poll the chat's frames after `after_seq`; Forbidden unless `user_id` owns it."""
        batch = FrameBatch([], live=False)
        return await self._call_if_live(
            key, batch, timeout_s, SessionHost.pull, key, user_id, after_seq, timeout_s
        )


def _dashboard_address() -> str | None:
    from ray._private import ray_constants
    from ray.experimental.internal_kv import _internal_kv_get

    value = _internal_kv_get(
        ray_constants.DASHBOARD_ADDRESS, namespace=ray_constants.KV_NAMESPACE_DASHBOARD
    )
    return value.decode() if isinstance(value, bytes) and value else None


async def _no_poll(*_args: Any) -> ChannelBatch:
    return ChannelBatch(known=False)


async def _no_watch(*_args: Any) -> ChannelBatch:
    return ChannelBatch(known=False)


async def _resolved(ref: ObjectRef[R]) -> R:
    return await ref


async def _answer(ref: ObjectRef[R], timeout_s: float | None) -> R:
    """`call_actor` typed by the call's reference (the reply of the method that `remote` named)."""
    reply: R = await call_actor(ref, timeout_s)
    return reply


def _actor_died(exc: BaseException) -> bool:
    """Whether a failed call means its actor is gone (`call_actor` keeps Ray's error as cause):
    it died, or it can never be scheduled again (pinned to a node that is gone)."""
    gone = (ray.exceptions.RayActorError, ray.exceptions.ActorUnschedulableError)
    return isinstance(exc.__cause__, gone)
