"""The storage actor killed again and again under concurrent writers (real Ray, no Serve):
every row whose id was handed back is in the database with that id, and nothing is duplicated.

Writers submit through `RayStorageClient`, which retries with the same rows when the actor dies;
a writer whose retries run out tries again itself with the same rows (row keys make it safe).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from ray.actor import ActorHandle
from sqlalchemy import func, select

from actors.config import StorageConfig
from actors.errors import ChatServiceError, StorageUnavailable
from actors.ray.registry import storage_actor
from actors.ray.storage_client import RayStorageClient
from storage.records import FLOW_TYPE_FLOW, MessageRecord, SessionRecord
from storage.sql.engine import make_engine
from storage.sql.tables import ChatMessage

WRITERS = 6
KILLS = 4
ACKS_BETWEEN_KILLS = 15


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    if not ray.is_initialized():
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()  # each module gets its own cluster; none lingers under later tests


def _row(chat_id: str, key: str) -> MessageRecord:
    return MessageRecord(
        row_key=key, chat_id=chat_id, flow_id="flow", user_id=1, is_bot=False,
        message=key, type="human", category="question",
    )  # fmt: skip


class CountingHandle:
    """The storage actor handle, counting `submit` calls (retries show up as extra calls)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.submits = 0

    @property
    def submit(self) -> Any:
        return self

    def remote(self, *args: Any) -> Any:
        self.submits += 1
        return self.handle.submit.remote(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)


class Load:
    """Shared state of the writers and the killer."""

    def __init__(self) -> None:
        self.acked: dict[str, int] = {}  # row_key -> id handed back
        self.order: dict[str, list[str]] = {}  # chat -> row keys in submission order
        self.acks = 0
        self.progress = asyncio.Condition()
        self.stop = asyncio.Event()
        self.client_failures: list[str] = []

    async def acked_batch(self, rows: list[MessageRecord], ids: list[int]) -> None:
        self.acked.update({r.row_key: i for r, i in zip(rows, ids, strict=True)})
        async with self.progress:
            self.acks += 1
            self.progress.notify_all()

    async def wait_for_acks(self, count: int) -> None:
        async with self.progress:
            await self.progress.wait_for(lambda: self.acks >= count)


async def _writer(client: RayStorageClient, load: Load, chat_id: str) -> None:
    session = SessionRecord(
        chat_id=chat_id, flow_id="flow", flow_type=FLOW_TYPE_FLOW, flow_name="f", user_id=1
    )
    load.order[chat_id] = []
    n = 0
    while not load.stop.is_set():
        rows = [_row(chat_id, f"{chat_id}-{n}-{j}") for j in range(1 + n % 3)]
        while True:
            try:
                ids = await client.submit(rows, [session])
                break
            except (ChatServiceError, StorageUnavailable) as exc:
                # Not acknowledged (retries ran out mid-restart): the same rows again.
                load.client_failures.append(type(exc).__name__)
        load.order[chat_id] += [r.row_key for r in rows]
        await load.acked_batch(rows, ids)
        n += 1


async def _killer(handle: ActorHandle[Any], load: Load) -> list[int]:
    pids: list[int] = []
    for k in range(KILLS):
        await load.wait_for_acks((k + 1) * ACKS_BETWEEN_KILLS)
        pids.append(await handle.__ray_call__.remote(lambda _self: os.getpid()))
        ray.kill(handle, no_restart=False)  # the process dies; Ray restarts the actor
    await load.wait_for_acks((KILLS + 1) * ACKS_BETWEEN_KILLS)  # writes go on after the last
    pids.append(await handle.__ray_call__.remote(lambda _self: os.getpid()))
    load.stop.set()
    return pids


async def _stored(db: Path) -> dict[str, int]:
    engine = make_engine(f"sqlite:///{db}")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(ChatMessage.row_key, ChatMessage.id))
            stored = {r.row_key: r.id for r in rows}
            count = (await conn.execute(select(func.count()).select_from(ChatMessage))).scalar()
    finally:
        await engine.dispose()
    assert count == len(stored)
    return stored


async def test_acknowledged_rows_survive_repeated_storage_kills(
    ray_cluster: None, tmp_path: Path
) -> None:
    db = tmp_path / "faults.db"
    config = StorageConfig(database_url=f"sqlite:///{db}", batch_max_delay_ms=2)
    handle = storage_actor(config, namespace=f"raychat-faults-{uuid.uuid4().hex[:8]}")
    counting = CountingHandle(handle)
    client = RayStorageClient(counting)
    try:
        assert await client.ping()
        load = Load()
        writers = [_writer(client, load, f"chat-{w}") for w in range(WRITERS)]
        pids, _ = await asyncio.gather(_killer(handle, load), asyncio.gather(*writers))
    finally:
        ray.kill(handle, no_restart=True)
    assert len(set(pids)) == KILLS + 1, "every kill restarted the actor in a new process"
    assert counting.submits > load.acks, "some submits died with the actor and were retried"
    stored = await _stored(db)
    # Every acknowledged row is stored under the id handed back, and nothing else is stored:
    # a retried row was not inserted twice.
    assert {k: stored.get(k) for k in load.acked} == load.acked
    assert set(stored) == set(load.acked)
    for keys in load.order.values():  # ids follow each chat's order of events
        ids = [load.acked[k] for k in keys]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
