"""A stuck database (review §10, API.md §6a) over real Ray actors and a real PostgreSQL: the
storage actor reaches PostgreSQL through a proxy that the test blackholes. REST answers 503
(with Retry-After) within 10 s, a turn ends with an error frame within 10 s, nothing hangs, and
once the path is restored REST and turns work again."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import ray
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.frames import RelayFrame, logged_seq
from actors.ray.registry import Runtime
from actors.sessions.session import Ask, SessionKey
from serve_app.api import build_api
from serve_app.settings import ApiConfig
from tests.conftest import demo_graph, flow_record
from tests.integration.tcp_blackhole import BlackholeProxy

PG_HOST, PG_PORT = "127.0.0.1", 5432
DATABASE = "raychat_stuck_db_test"
ANSWER_WITHIN_S = 10.0


async def _reset_database(create: bool, name: str = DATABASE) -> None:
    admin = create_async_engine(
        f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/postgres", isolation_level="AUTOCOMMIT"
    )
    try:
        async with asyncio.timeout(10), admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            if create:
                await conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await admin.dispose()


@pytest.fixture(scope="module")
def proxy() -> Iterator[BlackholeProxy]:
    try:
        asyncio.run(_reset_database(create=True))
    except Exception as exc:  # PostgreSQL missing: nothing to test here
        pytest.skip(f"PostgreSQL at {PG_HOST}:{PG_PORT} unavailable: {exc}")
    made = BlackholeProxy(PG_HOST, PG_PORT)
    yield made
    made.close()
    asyncio.run(_reset_database(create=False))  # after the runtime's actors are gone


@pytest.fixture(scope="module")
def runtime(proxy: BlackholeProxy) -> Iterator[Runtime]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if not ray.is_initialized():
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
    config = RuntimeConfig(
        storage=StorageConfig(
            database_url=f"postgresql://postgres@127.0.0.1:{proxy.port}/{DATABASE}",
            statement_timeout_s=2.0,
            pool_timeout_s=2.0,
            call_timeout_s=5.0,
            batch_max_delay_ms=2,
        ),
        sessions=SessionConfig(hosts=1, storage_call_timeout_s=5.0, host_call_timeout_s=8.0),
        jwt_secret="x" * 40,
        namespace=f"raychat-stuck-{uuid.uuid4().hex[:8]}",
    )
    yield Runtime(config)
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["namespace"] == config.namespace:
            ray.kill(ray.get_actor(actor["name"], namespace=config.namespace))
    ray.shutdown()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = build_api(runtime, ApiConfig(asks_per_minute=0, concurrent_turns=0))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as made:
        yield made


async def _turn_frames(runtime: Runtime, key: SessionKey, text_: str) -> list[RelayFrame]:
    """Every frame of one turn, up to its close, within ANSWER_WITHIN_S (else the test fails)."""
    async with asyncio.timeout(ANSWER_WITHIN_S):
        after = await runtime.start_turn(key, Ask(user_id=1, inputs={"input": text_})) - 1
        frames: list[RelayFrame] = []
        while not frames or frames[-1]["type"] != "close":
            batch = await runtime.pull(key, 1, after, 2)
            frames += batch.frames
            after = logged_seq(frames[-1]) if frames else after
        return frames


async def _login(client: httpx.AsyncClient) -> dict[str, str]:
    creds = {"user_name": f"u{uuid.uuid4().hex[:8]}", "password": "secret-pw"}
    registered = await client.post("/api/v1/user/register", json=creds)
    assert registered.status_code == 200, registered.text
    login = await client.post("/api/v1/user/login", json=creds)
    return {"Authorization": f"Bearer {login.json()['data']['access_token']}"}


async def test_a_blackholed_database_gives_503_and_error_frames_then_recovers(
    runtime: Runtime, proxy: BlackholeProxy, client: httpx.AsyncClient
) -> None:
    headers = await _login(client)
    flow = flow_record(uuid.uuid4().hex, demo_graph())
    await runtime.storage.put_flow(flow)
    key = SessionKey(flow.id, uuid.uuid4().hex)
    assert (await _turn_frames(runtime, key, "before"))[-2]["message"] == "echo(0): before"

    proxy.blackhole()
    try:
        started = time.monotonic()
        response = await client.get("/api/v1/flows", headers=headers)
        assert time.monotonic() - started < ANSWER_WITHIN_S
        assert response.status_code == 503, response.text
        assert response.json()["status_code"] == 503 and int(response.headers["Retry-After"]) >= 1

        frames = await _turn_frames(runtime, key, "during")  # fails the test if it hangs
        errors = [f for f in frames if f["category"] == "error"]
        assert errors, frames
        assert errors[0]["message"]["status_code"] == 503
    finally:
        proxy.restore()

    # The database is back: REST and turns work again (within a bounded wait).
    deadline = time.monotonic() + 30
    status: Any = None
    while time.monotonic() < deadline:
        status = (await client.get("/api/v1/flows", headers=headers)).status_code
        if status == 200:
            break
        await asyncio.sleep(0.2)
    assert status == 200
    frames = await _turn_frames(runtime, key, "after")
    assert frames[-2]["category"] == "answer" and "after" in frames[-2]["message"]
