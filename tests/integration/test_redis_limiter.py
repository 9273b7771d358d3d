"""The Redis rate limiter against the real Redis at 127.0.0.1:6379 (skipped when it is not
reachable), with a fake clock so windows and leases are tested without sleeping; and its
fallback to local limits when Redis is down."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from redis.asyncio import Redis

from actors.errors import RateLimited
from serve_app.limits import Limits, RedisLimiter
from serve_app.observability import metrics

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client() -> AsyncIterator[Redis]:
    redis_client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await redis_client.ping()
    except redis.exceptions.ConnectionError as exc:
        await redis_client.aclose()
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    yield redis_client
    await redis_client.aclose()


@pytest.fixture
async def prefix(client: Redis) -> AsyncIterator[str]:
    name = f"raychat-test:{uuid.uuid4().hex}"
    yield name
    keys = [k async for k in client.scan_iter(f"{name}:*")]
    if keys:
        await client.delete(*keys)


def limiter(client: Redis, prefix: str, clock: Clock, **limits: int) -> RedisLimiter:
    return RedisLimiter(client, Limits(**limits), prefix=prefix, clock=clock)


async def test_asks_are_limited_across_limiter_instances(client: Redis, prefix: str) -> None:
    clock = Clock()
    one = limiter(client, prefix, clock, asks_per_minute=3)
    two = limiter(client, prefix, clock, asks_per_minute=3)  # another replica
    await one.check_ask(5)
    clock.now += 20
    await two.check_ask(5)
    await one.check_ask(5)
    with pytest.raises(RateLimited) as refused:
        await two.check_ask(5)
    assert refused.value.data["retry_after"] == 40  # the first ask leaves at +60 s
    await one.check_ask(6)  # another user
    clock.now += 40
    await two.check_ask(5)


async def test_asks_window_key_expires_in_redis(client: Redis, prefix: str) -> None:
    one = limiter(client, prefix, Clock(), asks_per_minute=3)
    await one.check_ask(9)
    ttl_ms = await client.pttl(one.key("ask", 9))
    assert 0 < ttl_ms <= 60_000


async def test_turn_leases_are_shared_released_and_expire(client: Redis, prefix: str) -> None:
    clock = Clock()
    one = limiter(client, prefix, clock, concurrent_turns=2)
    two = limiter(client, prefix, clock, concurrent_turns=2)
    lease = await one.acquire_turn(1)
    await two.acquire_turn(1)  # this one is leaked
    with pytest.raises(RateLimited):
        await one.acquire_turn(1)
    await lease.release()
    await lease.release()
    async with two.turn_slot(1):
        with pytest.raises(RateLimited):
            await one.acquire_turn(1)
    clock.now += 600  # the leaked lease expired
    await one.acquire_turn(1)
    await one.acquire_turn(1)


async def test_unreachable_redis_falls_back_to_local_limits() -> None:
    # Port 1 refuses connections: every call fails fast and the local limiter takes over.
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limits_off = RedisLimiter(dead, Limits(asks_per_minute=2, concurrent_turns=1))
    errors_before = metrics.REDIS_ERRORS._value.get()
    await limits_off.check_ask(1)
    await limits_off.check_ask(1)
    with pytest.raises(RateLimited):
        await limits_off.check_ask(1)
    lease = await limits_off.acquire_turn(1)
    with pytest.raises(RateLimited):
        await limits_off.acquire_turn(1)
    await lease.release()
    await limits_off.acquire_turn(1)
    assert metrics.REDIS_ERRORS._value.get() > errors_before
    await limits_off.close()


async def test_logins_are_limited_across_limiter_instances(client: Redis, prefix: str) -> None:
    clock = Clock()
    one = limiter(client, prefix, clock, logins_per_minute=2, logins_per_address_per_minute=10)
    two = limiter(client, prefix, clock, logins_per_minute=2, logins_per_address_per_minute=10)
    await one.check_login("10.0.0.1", "ann")
    await one.check_login("10.0.0.1", "ann")
    await one.check_login("10.0.0.1", "ann")  # successes do not count per name
    await one.login_failed("ann")
    clock.now += 30
    await two.check_login("10.0.0.2", "ann")
    await two.login_failed("ann")
    with pytest.raises(RateLimited) as refused:
        await one.check_login("10.0.0.3", "ann")  # two failures, one on each replica
    assert refused.value.data["scope"] == "logins_per_user_name"
    assert refused.value.data["retry_after"] == 30
    await two.check_login("10.0.0.3", "bob")
