"""Timeouts everywhere (review §10, §17; API.md §6a), without Ray: a storage call that never
answers is StorageUnavailable within its budget, a restart under a create is an explicit 503,
a locked SQLite database ends a statement, and REST answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray
from sqlalchemy.exc import TimeoutError as PoolTimeout

from actors.config import RuntimeConfig, StorageConfig
from actors.errors import InvalidInput, StorageUnavailable
from actors.ray.storage_client import AMBIGUOUS_WRITE, RayStorageClient, call_actor
from actors.storage_actor.actor import StorageActor
from actors.storage_actor.errors import to_domain_error
from serve_app.api import build_api
from serve_app.settings import ApiConfig
from storage.records import FLOW_OFFLINE, FlowRecord, HistoryQuery, MessageRecord
from tests.unit.rest.conftest import SECRET, FakeRuntime


class _Method:
    def __init__(self, fn: Callable[..., Awaitable[Any]]) -> None:
        self._fn = fn

    def remote(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._fn(*args, **kwargs)


class StuckHandle:
    """A storage actor that never answers (a database blackhole seen from the caller)."""

    def __init__(self) -> None:
        self.never = asyncio.Event()

    def __getattr__(self, name: str) -> _Method:
        async def hang(*_args: Any, **_kwargs: Any) -> Any:
            await self.never.wait()

        return _Method(hang)


class DyingHandle:
    """A storage actor that dies under every call."""

    def __getattr__(self, name: str) -> _Method:
        async def die(*_args: Any, **_kwargs: Any) -> Any:
            raise ray.exceptions.RayActorError()

        return _Method(die)


def _flow() -> FlowRecord:
    return FlowRecord(
        id=uuid.uuid4().hex, name="f", status=FLOW_OFFLINE, version=1, data={}, user_id=1
    )


async def test_a_storage_call_that_never_answers_is_unavailable_in_time() -> None:
    client = RayStorageClient(StuckHandle(), call_timeout_s=0.2)
    for call in (
        lambda: client.get_flow("x"),
        lambda: client.list_flows(None),
        lambda: client.create_flow(_flow()),
        lambda: client.submit([]),
    ):
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            await call()
        assert time.monotonic() - started < 2.0
        assert caught.value.data["retry_after"] >= 1


async def test_call_actor_without_a_budget_still_waits() -> None:
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    done.set_result(7)
    assert await call_actor(done) == 7


async def test_a_restart_under_a_create_is_an_explicit_503() -> None:
    client = RayStorageClient(DyingHandle(), call_timeout_s=1)
    for call in (
        lambda: client.create_flow(_flow()),
        lambda: client.create_user("ann", "hash"),
    ):
        with pytest.raises(StorageUnavailable, match="may have been applied"):
            await call()
    assert "Check before retrying" in AMBIGUOUS_WRITE


def test_timeouts_and_driver_errors_map_to_client_safe_errors() -> None:
    assert isinstance(to_domain_error(PoolTimeout("QueuePool limit")), StorageUnavailable)
    assert isinstance(to_domain_error(TimeoutError()), StorageUnavailable)
    overflow = to_domain_error(OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert isinstance(overflow, InvalidInput) and "SQLite" not in overflow.message
    own = to_domain_error(ValueError("comment longer than 4096 characters"))
    assert isinstance(own, InvalidInput) and own.message == "comment longer than 4096 characters"


async def test_a_locked_sqlite_database_ends_the_statement(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    actor = StorageActor(
        StorageConfig(
            database_url=f"sqlite:///{path}", statement_timeout_s=0.3, batch_max_delay_ms=1
        )
    )
    await actor.ping()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # holds the write lock (and, outside WAL, readers)
    try:
        started = time.monotonic()
        row = MessageRecord(
            row_key=uuid.uuid4().hex, chat_id="c", flow_id="f", user_id=1, is_bot=False,
            message="m", type="human", category="question",
        )  # fmt: skip
        with pytest.raises(StorageUnavailable):
            await actor.submit([row])
        assert time.monotonic() - started < 5.0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(await actor.submit([row])) == 1  # the database is back: writes work again
    await actor.shutdown()


async def test_rest_answers_503_with_retry_after_when_storage_is_stuck() -> None:
    runtime = FakeRuntime(
        RuntimeConfig(storage=StorageConfig(database_url="sqlite://"), jwt_secret=SECRET),
        RayStorageClient(StuckHandle(), call_timeout_s=0.3),
    )
    app = build_api(runtime, ApiConfig())  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        started = time.monotonic()
        response = await client.post(
            "/api/v1/user/login", json={"user_name": "ann", "password": "secret-pw"}
        )
        assert response.status_code == 503, response.text
        assert response.json()["status_code"] == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert time.monotonic() - started < 5.0


async def test_a_storage_actor_that_is_down_is_503_not_13004() -> None:
    client = RayStorageClient(DyingHandle(), call_timeout_s=1)
    with pytest.raises(StorageUnavailable, match="restarting"):
        await client.get_flow("x")  # not retried (hot path of a session)


async def test_the_flusher_commits_while_every_read_connection_is_taken(tmp_path: Path) -> None:
    # Review §10: reads used to share the flusher's pool, so a read flood delayed every commit.
    actor = StorageActor(
        StorageConfig(
            database_url=f"sqlite:///{tmp_path / 'busy.db'}",
            pool_timeout_s=0.5,
            batch_max_delay_ms=1,
        )
    )
    await actor.ping()
    engine = actor._repo.engine
    held = []
    try:
        while True:  # take the whole read pool (size + overflow)
            try:
                held.append(await engine.connect())
            except PoolTimeout:
                break
        with pytest.raises(StorageUnavailable):  # reads now wait out the pool timeout: 503
            await actor.history(HistoryQuery("c", "f", None, 10))
        row = MessageRecord(
            row_key=uuid.uuid4().hex, chat_id="c", flow_id="f", user_id=1, is_bot=False,
            message="m", type="human", category="question",
        )  # fmt: skip
        assert len(await actor.submit([row])) == 1  # ...but commits go through their own pool
    finally:
        for conn in held:
            await conn.close()
    await actor.shutdown()
