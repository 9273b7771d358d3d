"""Who is calling: a verified token whose admin claim is checked against the user table.

A token's `role` is only a claim: `raychat token --admin` can mint one for anybody who holds the
secret, and a user demoted since the token was issued still carries it. So an admin claim counts
only while the user table says `admin` too. Lookups are cached for a few seconds per replica (an
admin page fires many requests); non-admin claims need no lookup at all.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from actors.registry import Runtime
from serve_app.auth import Principal, decode_token
from storage.records import UserRecord

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


async def authenticate(runtime: Runtime, token: str, cache: RoleCache = ROLE_CACHE) -> Principal:
    """The caller of a token: signature, algorithm and expiry checked (Unauthorized otherwise),
    admin role checked against the user table. REST and WebSocket use this."""
    claimed = decode_token(runtime.config.jwt_secret, token)
    return await verified_principal(claimed, runtime.storage.get_user, cache)
