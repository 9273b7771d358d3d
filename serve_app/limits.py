"""Rate limits: asks per minute per user (sliding window), concurrent turns per user (leases),
and login/registration attempts per minute per client address and per user name (sliding
windows, counted before any password is hashed).

One small interface, two implementations: `RedisLimiter` (shared by every ingress replica, when
`RAYCHAT_REDIS_URL` is set) and `LocalLimiter` (per replica). Both raise `RateLimited` with
`retry_after` (seconds), which the edge turns into HTTP 429 + `Retry-After` or a WebSocket error
frame. A turn slot is a lease that expires after `lease_s`, so a replica that dies mid-turn
cannot leak a user's slots forever. When Redis fails, `RedisLimiter` degrades to its local
limiter for a few seconds (warning log + `raychat_redis_errors_total`) and then tries again.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import State

from actors.errors import RateLimited
from serve_app.observability import metrics

log = logging.getLogger(__name__)
Clock = Callable[[], float]
PRUNE_AT_USERS = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Per user (asks, turns), per address and per user name (logins). A limit of 0 is off."""

    asks_per_minute: int = 60
    concurrent_turns: int = 4
    window_s: float = 60.0
    lease_s: float = 600.0
    logins_per_minute: int = 10
    logins_per_address_per_minute: int = 100


class TurnLease(Protocol):
    """A held turn slot. `release` is idempotent and never raises."""

    async def release(self) -> None: ...


class _NoLease:
    async def release(self) -> None:
        return None


NO_LEASE: TurnLease = _NoLease()


def ask_limited(limits: Limits, wait_s: float) -> RateLimited:
    """The error for a user over the asks-per-minute limit."""
    metrics.RATE_LIMITED.labels("asks").inc()
    return RateLimited(
        f"Too many requests: at most {limits.asks_per_minute} per minute",
        retry_after=max(1, math.ceil(wait_s)),
        limit=limits.asks_per_minute,
        scope="asks_per_minute",
    )


def turns_limited(limits: Limits) -> RateLimited:
    """The error for a user already running as many turns as allowed."""
    metrics.RATE_LIMITED.labels("turns").inc()
    return RateLimited(
        f"Too many turns running: at most {limits.concurrent_turns} at once",
        retry_after=1,
        limit=limits.concurrent_turns,
        scope="concurrent_turns",
    )


def login_limited(limit: int, wait_s: float, scope: str) -> RateLimited:
    """The error for too many login/registration attempts from one address or for one name."""
    metrics.RATE_LIMITED.labels("logins").inc()
    return RateLimited(
        f"Too many login attempts: at most {limit} per minute, retry later",
        retry_after=max(1, math.ceil(wait_s)),
        limit=limit,
        scope=scope,
    )


ADDRESS_SCOPE = "logins_per_address"
NAME_SCOPE = "logins_per_user_name"


def address_key(address: str) -> str:
    """The window of every attempt from one client address."""
    return f"addr:{address}"


def name_key(user_name: str) -> str:
    """The window of the failed attempts on one user name."""
    return f"name:{user_name}"


class RateLimiter:
    """The interface. `check_ask` counts one ask or raises RateLimited; `acquire_turn` takes a
    turn slot or raises RateLimited; `turn_slot` holds one for a `with` block; `check_login`
    counts one login or registration attempt of a client address and raises RateLimited when
    the address, or the user name's failures, are over their limits; `login_failed` counts one
    failed attempt (wrong password, taken name) on a user name."""

    limits: Limits

    async def check_ask(self, user_id: int) -> None:
        raise NotImplementedError

    async def check_login(self, address: str, user_name: str) -> None:
        raise NotImplementedError

    async def login_failed(self, user_name: str) -> None:
        raise NotImplementedError

    async def acquire_turn(self, user_id: int) -> TurnLease:
        raise NotImplementedError

    @asynccontextmanager
    async def turn_slot(self, user_id: int) -> AsyncIterator[None]:
        """Hold one of the user's turn slots for the block (RateLimited when none is free)."""
        lease = await self.acquire_turn(user_id)
        try:
            yield
        finally:
            await lease.release()

    async def close(self) -> None:
        """Release connections (no-op in process)."""
        return None


class LocalLimiter(RateLimiter):
    """In-process limits (one event loop, so no locks). Exact within one replica."""

    def __init__(self, limits: Limits, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._asks: dict[int, deque[float]] = {}
        self._turns: dict[int, dict[str, float]] = {}
        self._logins: dict[str, deque[float]] = {}

    async def check_ask(self, user_id: int) -> None:
        if self.limits.asks_per_minute <= 0:
            return
        now = self._clock()
        if len(self._asks) > PRUNE_AT_USERS:
            self._prune(now)
        window = self._asks.setdefault(user_id, deque())
        while window and window[0] <= now - self.limits.window_s:
            window.popleft()
        if len(window) >= self.limits.asks_per_minute:
            raise ask_limited(self.limits, window[0] + self.limits.window_s - now)
        window.append(now)

    async def check_login(self, address: str, user_name: str) -> None:
        now = self._clock()
        if len(self._logins) > PRUNE_AT_USERS:
            cutoff = now - self.limits.window_s
            for key in [k for k, w in self._logins.items() if not w or w[-1] <= cutoff]:
                del self._logins[key]
        limit = self.limits.logins_per_address_per_minute
        if limit > 0:
            self._login_window(address_key(address), limit, ADDRESS_SCOPE, now, count=True)
        limit = self.limits.logins_per_minute
        if limit > 0:
            self._login_window(name_key(user_name), limit, NAME_SCOPE, now, count=False)

    async def login_failed(self, user_name: str) -> None:
        limit = self.limits.logins_per_minute
        if limit > 0:
            window = self._window(name_key(user_name), self._clock())
            if len(window) < limit:
                window.append(self._clock())

    def _window(self, key: str, now: float) -> deque[float]:
        window = self._logins.setdefault(key, deque())
        while window and window[0] <= now - self.limits.window_s:
            window.popleft()
        return window

    def _login_window(self, key: str, limit: int, scope: str, now: float, count: bool) -> None:
        """Raise RateLimited when `key`'s window is full, else count this attempt if `count`."""
        window = self._window(key, now)
        if len(window) >= limit:
            raise login_limited(limit, window[0] + self.limits.window_s - now, scope)
        if count:
            window.append(now)

    async def acquire_turn(self, user_id: int) -> TurnLease:
        if self.limits.concurrent_turns <= 0:
            return NO_LEASE
        now = self._clock()
        leases = self._turns.setdefault(user_id, {})
        for token in [t for t, expiry in leases.items() if expiry <= now]:
            del leases[token]
        if len(leases) >= self.limits.concurrent_turns:
            raise turns_limited(self.limits)
        token = uuid.uuid4().hex
        leases[token] = now + self.limits.lease_s
        return _LocalLease(self, user_id, token)

    def release(self, user_id: int, token: str) -> None:
        """Give a slot back (unknown tokens are ignored)."""
        leases = self._turns.get(user_id)
        if leases is not None:
            leases.pop(token, None)
            if not leases:
                del self._turns[user_id]

    def _prune(self, now: float) -> None:
        cutoff = now - self.limits.window_s
        stale = [u for u, w in self._asks.items() if not w or w[-1] <= cutoff]
        for user_id in stale:
            del self._asks[user_id]


@dataclass(slots=True)
class _LocalLease:
    limiter: LocalLimiter
    user_id: int
    token: str

    async def release(self) -> None:
        self.limiter.release(self.user_id, self.token)


# Sliding window log: one sorted-set member per ask, scored by its time (ms). Returns -1 when the
# ask is admitted, else the milliseconds until the oldest ask leaves the window.
_ASK_SCRIPT = """
local limit, window, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window))
  return -1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(0, math.ceil(tonumber(oldest[2]) + window - now))
"""

# The same window, only looked at: -1 when it has room, else the ms until its oldest entry leaves.
_PEEK_SCRIPT = """
local limit, window, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  return -1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(0, math.ceil(tonumber(oldest[2]) + window - now))
"""

# Turn leases: one sorted-set member per running turn, scored by its expiry (ms). 1 admitted.
_TURN_SCRIPT = """
local limit, lease, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(lease))
  return 1
end
return 0
"""


class RedisLimiter(RateLimiter):
    """Limits shared by every replica through Redis (atomic Lua scripts). Times come from the
    replicas' clocks (`clock`, seconds), so replicas need NTP-synchronized clocks; a skew of a
    few ms only shifts the window edge."""

    def __init__(
        self,
        client: Redis,
        limits: Limits,
        prefix: str = "raychat:ratelimit",
        clock: Clock = time.time,
        retry_after_failure_s: float = 5.0,
    ) -> None:
        self.limits = limits
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._fallback = LocalLimiter(limits)
        self._retry_after_failure_s = retry_after_failure_s
        self._down_until = 0.0
        self._ask = client.register_script(_ASK_SCRIPT)
        self._turn = client.register_script(_TURN_SCRIPT)
        self._peek = client.register_script(_PEEK_SCRIPT)

    def key(self, kind: str, user_id: int) -> str:
        """The Redis key of one user's asks (`ask`) or turn leases (`turns`)."""
        return f"{self._prefix}:{kind}:{user_id}"

    async def check_ask(self, user_id: int) -> None:
        if self.limits.asks_per_minute <= 0:
            return
        args = [self.limits.asks_per_minute, self.limits.window_s * 1000, self._now_ms()]
        wait_ms = await self._run(self._ask, self.key("ask", user_id), [*args, uuid.uuid4().hex])
        if wait_ms is None:
            await self._fallback.check_ask(user_id)
        elif int(wait_ms) >= 0:
            raise ask_limited(self.limits, int(wait_ms) / 1000)

    async def check_login(self, address: str, user_name: str) -> None:
        windows = [
            (self._ask, address_key(address), self.limits.logins_per_address_per_minute),
            (self._peek, name_key(user_name), self.limits.logins_per_minute),
        ]
        for script, key, limit in windows:
            if limit <= 0:
                continue
            args = [limit, self.limits.window_s * 1000, self._now_ms(), uuid.uuid4().hex]
            wait_ms = await self._run(script, f"{self._prefix}:login:{key}", args)
            if wait_ms is None:
                await self._fallback.check_login(address, user_name)
                return
            if int(wait_ms) >= 0:
                scope = ADDRESS_SCOPE if script is self._ask else NAME_SCOPE
                raise login_limited(limit, int(wait_ms) / 1000, scope)

    async def login_failed(self, user_name: str) -> None:
        limit = self.limits.logins_per_minute
        if limit <= 0:
            return
        args = [limit, self.limits.window_s * 1000, self._now_ms(), uuid.uuid4().hex]
        key = f"{self._prefix}:login:{name_key(user_name)}"
        if await self._run(self._ask, key, args) is None:
            await self._fallback.login_failed(user_name)

    async def acquire_turn(self, user_id: int) -> TurnLease:
        if self.limits.concurrent_turns <= 0:
            return NO_LEASE
        token = uuid.uuid4().hex
        key = self.key("turns", user_id)
        args = [self.limits.concurrent_turns, self.limits.lease_s * 1000, self._now_ms(), token]
        admitted = await self._run(self._turn, key, args)
        if admitted is None:
            return await self._fallback.acquire_turn(user_id)
        if int(admitted) != 1:
            raise turns_limited(self.limits)
        return _RedisLease(self, key, token)

    async def release(self, key: str, token: str) -> None:
        """Give a slot back; a failure only leaves it to expire with its lease."""
        try:
            await self._client.zrem(key, token)
        except (RedisError, OSError) as exc:
            self._failed(exc)

    async def close(self) -> None:
        await self._client.aclose()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _run(self, script: Any, key: str, args: list[Any]) -> Any:
        """The script's answer, or None when Redis cannot be used right now."""
        if time.monotonic() < self._down_until:
            return None
        try:
            return await script(keys=[key], args=args)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None

    def _failed(self, exc: Exception) -> None:
        metrics.REDIS_ERRORS.inc()
        if time.monotonic() >= self._down_until:
            log.warning("Redis rate limits unavailable (%s); limiting per replica for now", exc)
        self._down_until = time.monotonic() + self._retry_after_failure_s


@dataclass(slots=True)
class _RedisLease:
    limiter: RedisLimiter
    key: str
    token: str
    released: bool = False

    async def release(self) -> None:
        if not self.released:
            self.released = True
            await self.limiter.release(self.key, self.token)


def build_limiter(limits: Limits, redis_url: str | None, namespace: str) -> RateLimiter:
    """Redis-backed when a URL is configured, in-process otherwise."""
    if not redis_url:
        return LocalLimiter(limits)
    client = Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return RedisLimiter(client, limits, prefix=f"{namespace}:ratelimit")


def limiter_of(state: State) -> RateLimiter:
    """The replica's limiter (`request.app.state` / `websocket.app.state`)."""
    limiter: RateLimiter = state.limiter
    return limiter
