"""Who is calling: a verified token whose admin claim is checked against the user table.

A token's `role` is only a claim: `raychat token --admin` can mint one for anybody who holds the
secret, and a user demoted since the token was issued still carries it. So an admin claim counts
only while the user table says `admin` too. Lookups are cached for a few seconds per replica (an
admin page fires many requests); non-admin claims need no lookup at all.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from actors.ray.registry import Runtime
from serve_app.auth.tokens import Principal, decode_token
from storage.records import UserRecord
from storage.sql.server_state import JWT_SECRET_NAME

ROLE_CACHE_S = 5.0
ADMIN = "admin"
USER = "user"

UserLookup = Callable[[int], Awaitable[UserRecord | None]]


class RoleCache:
    """user_id -> role as stored (None: no such user), each entry kept `ttl_s` seconds."""

    def __init__(self, ttl_s: float = ROLE_CACHE_S, clock: Callable[[], float] = time.monotonic):
        self._ttl_s = ttl_s
        self._clock = clock
        self._roles: dict[int, tuple[float, str | None]] = {}

    async def role_of(self, user_id: int, lookup: UserLookup) -> str | None:
        """The stored role of `user_id`, from the cache while fresh."""
        now = self._clock()
        cached = self._roles.get(user_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        user = await lookup(user_id)
        role = None if user is None else user.role
        self._roles[user_id] = (now, role)
        return role

    def forget(self, user_id: int) -> None:
        """Drop a cached role (after a role change on this replica)."""
        self._roles.pop(user_id, None)


ROLE_CACHE = RoleCache()


async def verified_principal(
    claimed: Principal, lookup: UserLookup, cache: RoleCache = ROLE_CACHE
) -> Principal:
    """`claimed` with its admin role kept only if the user table agrees."""
    if not claimed.is_admin:
        return claimed
    if await cache.role_of(claimed.user_id, lookup) == ADMIN:
        return claimed
    return replace(claimed, role=USER)


# Per storage client (one per replica): the database's secret never changes once generated.
_GENERATED_SECRETS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


async def signing_secret(runtime: Runtime) -> str:
    """The JWT secret: `RAYCHAT_JWT_SECRET` when configured, else the one generated once and
    kept in the database (asked of the storage actor on first use, then cached), so every
    replica, node, restart and `raychat token` signs and verifies with the same secret."""
    configured = runtime.config.jwt_secret
    if configured is not None:
        return configured
    secret = _GENERATED_SECRETS.get(runtime.storage)
    if secret is None:
        secret = await runtime.storage.server_secret(JWT_SECRET_NAME)
        _GENERATED_SECRETS[runtime.storage] = secret
    return secret


async def authenticate(runtime: Runtime, token: str, cache: RoleCache = ROLE_CACHE) -> Principal:
    """The caller of a token: signature, algorithm and expiry checked (Unauthorized otherwise),
    admin role checked against the user table. REST and WebSocket use this."""
    claimed = decode_token(await signing_secret(runtime), token)
    return await verified_principal(claimed, runtime.storage.get_user, cache)
