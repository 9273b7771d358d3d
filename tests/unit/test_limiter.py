"""The in-process rate limiter, driven by a fake clock (no sleeps, no Ray)."""

from __future__ import annotations

import pytest

from actors.errors import RateLimited
from serve_app.limits import Limits, LocalLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_asks_over_the_limit_are_refused_with_retry_after(clock: Clock) -> None:
    limiter = LocalLimiter(Limits(asks_per_minute=3), clock)
    for _ in range(3):
        await limiter.check_ask(1)
        clock.now += 10
    with pytest.raises(RateLimited) as refused:
        await limiter.check_ask(1)
    # The first ask (t=1000) leaves the window at t=1060; now is 1030.
    assert refused.value.data["retry_after"] == 30
    assert refused.value.data["scope"] == "asks_per_minute"


async def test_window_slides_and_users_are_independent(clock: Clock) -> None:
    limiter = LocalLimiter(Limits(asks_per_minute=2), clock)
    await limiter.check_ask(1)
    await limiter.check_ask(1)
    await limiter.check_ask(2)  # another user is not affected
    with pytest.raises(RateLimited):
        await limiter.check_ask(1)
    clock.now += 60  # both asks left the window
    await limiter.check_ask(1)


async def test_refused_asks_do_not_count(clock: Clock) -> None:
    limiter = LocalLimiter(Limits(asks_per_minute=1), clock)
    await limiter.check_ask(1)
    for _ in range(5):
        with pytest.raises(RateLimited):
            await limiter.check_ask(1)
    clock.now += 60.5
    await limiter.check_ask(1)


async def test_turn_slots_are_limited_and_released(clock: Clock) -> None:
    limiter = LocalLimiter(Limits(concurrent_turns=2), clock)
    first = await limiter.acquire_turn(7)
    await limiter.acquire_turn(7)
    with pytest.raises(RateLimited) as refused:
        await limiter.acquire_turn(7)
    assert refused.value.data["scope"] == "concurrent_turns"
    assert refused.value.data["retry_after"] == 1
    await first.release()
    await first.release()  # idempotent: frees one slot, not two
    await limiter.acquire_turn(7)
    with pytest.raises(RateLimited):
        await limiter.acquire_turn(7)


async def test_turn_slot_context_manager_releases_on_error(clock: Clock) -> None:
    limiter = LocalLimiter(Limits(concurrent_turns=1), clock)
    with pytest.raises(ValueError):
        async with limiter.turn_slot(3):
            with pytest.raises(RateLimited):
                await limiter.acquire_turn(3)
            raise ValueError("turn failed")
    async with limiter.turn_slot(3):
        pass


async def test_leaked_leases_expire(clock: Clock) -> None:
    limiter = LocalLimiter(Limits(concurrent_turns=1, lease_s=600), clock)
    await limiter.acquire_turn(1)  # never released (its replica "died")
    with pytest.raises(RateLimited):
        await limiter.acquire_turn(1)
    clock.now += 600
    await limiter.acquire_turn(1)


async def test_zero_limits_are_off(clock: Clock) -> None:
    limiter = LocalLimiter(Limits(asks_per_minute=0, concurrent_turns=0), clock)
    for _ in range(1000):
        await limiter.check_ask(1)
        await limiter.acquire_turn(1)


async def test_logins_are_limited_per_name_and_per_address(clock: Clock) -> None:
    limiter = LocalLimiter(Limits(logins_per_minute=2, logins_per_address_per_minute=3), clock)
    for _ in range(5):  # attempts that do not fail never fill a name's window
        await limiter.check_login(f"10.0.1.{_}", "ann")
    await limiter.login_failed("ann")
    await limiter.login_failed("ann")
    with pytest.raises(RateLimited) as by_name:
        await limiter.check_login("10.0.0.3", "ann")  # a new address, the same name
    assert by_name.value.data["scope"] == "logins_per_user_name"
    await limiter.check_login("10.0.0.1", "bob")
    await limiter.check_login("10.0.0.1", "cid")
    await limiter.check_login("10.0.0.1", "eve")  # third attempt from 10.0.0.1
    with pytest.raises(RateLimited) as by_address:
        await limiter.check_login("10.0.0.1", "dan")
    assert by_address.value.data["scope"] == "logins_per_address"
    assert by_address.value.data["retry_after"] == 60
    clock.now += 60  # the window slides
    await limiter.check_login("10.0.0.1", "ann")


async def test_zero_turns_login_limits_off(clock: Clock) -> None:
    limiter = LocalLimiter(Limits(logins_per_minute=0, logins_per_address_per_minute=0), clock)
    for _ in range(100):
        await limiter.check_login("10.0.0.1", "ann")
