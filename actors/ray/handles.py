"""Typed Ray actor handles: `ActorHandle[Cls]` for the handle, the plain class's method for a call.

Ray (2.48+) types `handle.method.remote(...)` only when the method carries `@ray.method`, which
would put Ray into the plain classes (`actors/sessions/`, `actors/storage_actor/`) that must not
import it; otherwise `ActorHandle.__getattr__` is typed `Never`, so any attribute type-checks.
`remote(handle, SessionHost.watch, key, user_id)` names the method itself instead: mypy checks the
arguments against its signature and types the reply, and a renamed method fails mypy, not a call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from ray import ObjectRef
from ray.actor import ActorHandle

from actors.storage_actor.actor import StorageActor

A = TypeVar("A")
P = ParamSpec("P")
R = TypeVar("R")

StorageHandle = ActorHandle[StorageActor]
# Ray's built-in method of every actor: resolves once its constructor has run.
_READY = "__ray_ready__"


def remote(
    handle: ActorHandle[A],
    method: Callable[Concatenate[A, P], Awaitable[R]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> ObjectRef[R]:
    """`handle.<method>.remote(*args, **kwargs)`, typed by the plain class's `method`."""
    ref: ObjectRef[R] = getattr(handle, method.__name__).remote(*args, **kwargs)
    return ref


def ready(handle: ActorHandle[Any]) -> ObjectRef[bool]:
    """Resolves once the actor has started (its constructor ran); fails if it cannot start."""
    ref: ObjectRef[bool] = getattr(handle, _READY).remote()
    return ref


def created(proxy: ActorHandle[A] | type[A]) -> ActorHandle[A]:
    """The handle `ActorClass.remote()` returns. Ray types it `ActorHandle[A] | type[A]` so that
    `@ray.method` calls type-check through the class; the value is always the handle."""
    return cast(ActorHandle[A], proxy)
