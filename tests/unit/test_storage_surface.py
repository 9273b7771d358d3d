"""The storage surface is defined once (`storage.repository.Operations`): every implementation
serves each operation under its name with the protocol's signature, the Ray client covers the
storage actor's whole surface, and each client call has the declared restart policy."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import ray

from actors.errors import StorageUnavailable
from actors.ray import storage_client
from actors.ray.storage_client import AMBIGUOUS_WRITE, RayStorageClient
from actors.storage_actor.actor import StorageActor
from storage.memory.chats import MemoryRepository
from storage.repository import Operations, Repository
from storage.sql import SqlRepository

OPERATIONS = [n for n, v in vars(Operations).items() if inspect.iscoroutinefunction(v)]
BACKEND_ONLY = [n for n, v in vars(Repository).items() if inspect.iscoroutinefunction(v)]
# The client's calls that are not retried when the storage actor dies under them (all others
# are retried): creates and update_flow are not safe to repeat; the rest fail fast.
AT_MOST_ONCE = {"create_flow", "create_assistant", "create_user", "update_flow"}
FAIL_FAST = {
    "session_owner", "put_flow", "get_flow", "get_assistant", "ensure_user", "get_user",
    "ping", "queue_depth", "flush_stats",
}  # fmt: skip


def declared(function: Any) -> inspect.Signature:
    """`function`'s signature as written: without the keyword-only `_ray_trace_ctx` that Ray
    adds to an actor class's methods when it wraps the class (`ray.remote`)."""
    signature = inspect.signature(function)
    kept = [p for p in signature.parameters.values() if p.name != "_ray_trace_ctx"]
    return signature.replace(parameters=kept)


def _public_coroutines(cls: type) -> set[str]:
    return {
        name
        for name, _ in inspect.getmembers(cls, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }


def test_the_protocol_lists_every_operation_once() -> None:
    assert len(OPERATIONS) == len(set(OPERATIONS)) == 38
    assert set(BACKEND_ONLY) == {"ping", "close", "bulk_write", "ensure_server_value"}


@pytest.mark.parametrize("name", OPERATIONS)
def test_every_implementation_serves_the_operation_with_its_signature(name: str) -> None:
    expected = declared(getattr(Operations, name))
    for implementation in (SqlRepository, MemoryRepository, StorageActor, RayStorageClient):
        method = getattr(implementation, name)
        assert inspect.iscoroutinefunction(method), (implementation, name)
        assert declared(method) == expected, (implementation, name)


def test_wrapping_the_actor_with_ray_leaves_the_protocol_and_backends_as_declared() -> None:
    before = {n: inspect.signature(getattr(Operations, n)) for n in OPERATIONS}
    ray.remote(StorageActor)  # what the registry does; no cluster needed
    assert {n: inspect.signature(getattr(Operations, n)) for n in OPERATIONS} == before
    for name in OPERATIONS:
        assert inspect.signature(getattr(SqlRepository, name)) == before[name], name
        assert declared(getattr(StorageActor, name)) == before[name], name


@pytest.mark.parametrize("name", BACKEND_ONLY)
def test_backends_serve_the_backend_only_methods_with_their_signatures(name: str) -> None:
    expected = inspect.signature(getattr(Repository, name))
    for implementation in (SqlRepository, MemoryRepository):
        assert inspect.signature(getattr(implementation, name)) == expected, implementation


def test_the_client_covers_the_actors_whole_surface_with_its_signatures() -> None:
    actor = _public_coroutines(StorageActor) - {"shutdown"}  # the registry's, not a caller's
    assert _public_coroutines(RayStorageClient) == actor
    for name in actor:
        assert declared(getattr(RayStorageClient, name)) == declared(getattr(StorageActor, name)), (
            name
        )


class CountingDyingHandle:
    """A storage actor handle whose every call dies with the actor; counts calls per method."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        handle = self

        class Method:
            def remote(self, *_args: Any, **_kwargs: Any) -> Any:
                handle.calls[name] = handle.calls.get(name, 0) + 1
                return self._die()

            async def _die(self) -> None:
                raise ray.exceptions.RayActorError()

        return Method()


async def test_each_call_has_its_declared_restart_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_client, "SUBMIT_ATTEMPTS", 2)  # one retry: keeps the test short
    handle = CountingDyingHandle()
    client = RayStorageClient(handle, call_timeout_s=1)
    for name in _public_coroutines(RayStorageClient):
        with pytest.raises(StorageUnavailable) as caught:
            await getattr(client, name)()  # arguments never reach the dying handle
        if name in AT_MOST_ONCE:
            assert (caught.value.message, handle.calls[name]) == (AMBIGUOUS_WRITE, 1), name
        else:
            retried = 1 if name in FAIL_FAST else 2
            assert caught.value.message == "Storage is restarting, retry", name
            assert handle.calls[name] == retried, name
