"""Typed async client of the storage actor: awaits its Ray handle, turns Ray failures into
domain errors, and retries what is safe to repeat while the storage actor restarts.

Each method is `remote_call(StorageActor.<name>)`: the actor method's own signature and
docstring, sent to the actor method of that name, so the client cannot drift from the actor (nor
the actor from `storage.repository.Operations`). Every call has a deadline (`call_timeout_s`,
0 = none): a storage actor that does not answer in time is StorageUnavailable (503 + Retry-After
on REST), never an endless wait. What happens when the actor dies under a call is its
`CallPolicy`, declared once below (`AT_MOST_ONCE`, `FAIL_FAST`; every other call is retried)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, cast

import ray

from actors.config import StorageConfig
from actors.errors import ChatServiceError, RaychatError, StorageUnavailable
from actors.storage_actor.actor import StorageActor

P = ParamSpec("P")
R = TypeVar("R")

# What a call does when the storage actor dies under it (Ray restarts it):
# "retry": safe to repeat (reads, idempotent writes, `submit` with the same row keys): sent again
#   up to SUBMIT_ATTEMPTS times with backoff, then StorageUnavailable "Storage is restarting";
# "fail_fast": StorageUnavailable "Storage is restarting" at once (the caller retries);
# "at_most_once": not safe to repeat: StorageUnavailable(AMBIGUOUS_WRITE), the write may have
#   been applied.
CallPolicy = Literal["retry", "fail_fast", "at_most_once"]

# A repeated create reports a conflict; a repeated PATCH of a flow's graph adds a version.
AT_MOST_ONCE: frozenset[Callable[..., object]] = frozenset(
    {
        StorageActor.create_flow,
        StorageActor.update_flow,
        StorageActor.create_assistant,
        StorageActor.create_user,
    }
)
# A session's app, owner and user reads (its turn or activation fails and its caller retries),
# health, and `/metrics` scrapes, which must answer quickly.
FAIL_FAST: frozenset[Callable[..., object]] = frozenset(
    {
        StorageActor.session_owner,
        StorageActor.get_flow,
        StorageActor.put_flow,
        StorageActor.get_assistant,
        StorageActor.ensure_user,
        StorageActor.get_user,
        StorageActor.ping,
        StorageActor.queue_depth,
        StorageActor.flush_stats,
    }
)


def call_policy(method: Callable[..., object]) -> CallPolicy:
    """The declared restart policy of the actor method `method`."""
    if method in AT_MOST_ONCE:
        return "at_most_once"
    return "fail_fast" if method in FAIL_FAST else "retry"


SUBMIT_ATTEMPTS = 8
DEFAULT_CALL_TIMEOUT_S: float = StorageConfig.model_fields["call_timeout_s"].default
"""The storage call deadline when none is given (`StorageConfig.call_timeout_s`'s default)."""
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
    except ray.exceptions.ActorUnschedulableError as exc:  # e.g. pinned to a node that is gone
        raise ChatServiceError("actor cannot run any more") from exc


def remote_call(
    method: Callable[Concatenate[StorageActor, P], Awaitable[R]],
) -> Callable[Concatenate[RayStorageClient, P], Coroutine[Any, Any, R]]:
    """The client method calling the storage actor's `method` (`StorageActor.<name>`): same
    name, signature and docstring; Ray failures handled by its `call_policy`."""
    name, policy = method.__name__, call_policy(method)

    async def call(self: RayStorageClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        def send() -> Any:  # a fresh Ray object ref per attempt
            return getattr(self.handle, name).remote(*args, **kwargs)

        return cast(R, await self._send(send, policy))

    functools.update_wrapper(call, method)
    call.__qualname__ = f"RayStorageClient.{name}"
    return call


class RayStorageClient:
    """`StoragePort` over the storage actor's handle (awaits Ray object refs)."""

    def __init__(self, handle: Any, call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S) -> None:
        self.handle = handle
        self.call_timeout_s = call_timeout_s

    async def _send(self, send: Callable[[], Any], policy: CallPolicy) -> Any:
        attempts = SUBMIT_ATTEMPTS if policy == "retry" else 1
        for attempt in range(attempts):
            try:
                return await call_actor(send(), self.call_timeout_s, storage_timeout)
            except ChatServiceError as exc:
                # A storage actor that is down or restarting is StorageUnavailable (503), not 13004.
                if not isinstance(exc.__cause__, ray.exceptions.RayActorError):
                    raise
                if policy == "at_most_once":
                    raise StorageUnavailable(AMBIGUOUS_WRITE, retry_after=2) from exc
                if attempt == attempts - 1:
                    raise StorageUnavailable("Storage is restarting, retry", retry_after=2) from exc
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")

    # Group commit. A retried `submit` sends the same rows: their row keys make the insert
    # idempotent, so a row is acknowledged exactly once and never lost.
    submit = remote_call(StorageActor.submit)
    submit_events = remote_call(StorageActor.submit_events)

    history = remote_call(StorageActor.history)
    session_messages = remote_call(StorageActor.session_messages)
    get_message = remote_call(StorageActor.get_message)
    get_messages = remote_call(StorageActor.get_messages)
    find_client_message = remote_call(StorageActor.find_client_message)
    update_message = remote_call(StorageActor.update_message)
    delete_message = remote_call(StorageActor.delete_message)
    set_liked = remote_call(StorageActor.set_liked)
    mark_copied = remote_call(StorageActor.mark_copied)
    set_comment = remote_call(StorageActor.set_comment)

    # `copy_session` is safe to retry: the caller chose `new_chat_id`.
    claim_session = remote_call(StorageActor.claim_session)
    session_owner = remote_call(StorageActor.session_owner)
    get_session = remote_call(StorageActor.get_session)
    list_chats = remote_call(StorageActor.list_chats)
    rename_session = remote_call(StorageActor.rename_session)
    delete_session = remote_call(StorageActor.delete_session)
    copy_session = remote_call(StorageActor.copy_session)
    audit_sessions = remote_call(StorageActor.audit_sessions)
    stats = remote_call(StorageActor.stats)

    create_flow = remote_call(StorageActor.create_flow)
    put_flow = remote_call(StorageActor.put_flow)
    get_flow = remote_call(StorageActor.get_flow)
    update_flow = remote_call(StorageActor.update_flow)
    delete_flow = remote_call(StorageActor.delete_flow)
    list_flows = remote_call(StorageActor.list_flows)
    flow_versions = remote_call(StorageActor.flow_versions)
    create_assistant = remote_call(StorageActor.create_assistant)
    get_assistant = remote_call(StorageActor.get_assistant)
    update_assistant = remote_call(StorageActor.update_assistant)
    delete_assistant = remote_call(StorageActor.delete_assistant)
    list_assistants = remote_call(StorageActor.list_assistants)
    list_online_apps = remote_call(StorageActor.list_online_apps)

    ensure_user = remote_call(StorageActor.ensure_user)
    create_user = remote_call(StorageActor.create_user)
    get_user = remote_call(StorageActor.get_user)
    get_user_by_name = remote_call(StorageActor.get_user_by_name)
    list_telemetry = remote_call(StorageActor.list_telemetry)
    list_audit_log = remote_call(StorageActor.list_audit_log)
    server_secret = remote_call(StorageActor.server_secret)

    ping = remote_call(StorageActor.ping)
    queue_depth = remote_call(StorageActor.queue_depth)
    flush_stats = remote_call(StorageActor.flush_stats)
