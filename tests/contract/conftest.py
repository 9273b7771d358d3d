"""Contract tier: one suite, every backend. `repo` is a fresh, empty repository per test on the
in-memory fake, SQLite (temporary file), PostgreSQL, MariaDB/MySQL and the in-process
`StorageActor` on SQLite (`actor`: the generated operations, the schema check and group commit).

Server databases come from RAYCHAT_TEST_POSTGRES_URL / RAYCHAT_TEST_MYSQL_URL (defaults: the
loopback services `.ci/services.sh` starts). Once per run their raychat tables are dropped and
re-created through the migrations; before each test every row is deleted. A server that cannot
be reached skips its tests with the reason.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from actors.config import StorageConfig
from actors.errors import InvalidInput
from actors.ray.storage_client import RayStorageClient
from actors.storage_actor.actor import StorageActor
from storage.memory.chats import MemoryRepository
from storage.migrate import upgrade_to_head
from storage.records import MessageRecord, SessionRecord, WriteBatch
from storage.repository import Repository
from storage.sql import SqlRepository
from storage.sql.engine import make_engine
from storage.sql.tables import Base

SERVER_URLS = {
    "postgresql": os.environ.get(
        "RAYCHAT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/raychat_test"
    ),
    "mysql": os.environ.get("RAYCHAT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/raychat_test"),
}
BACKENDS = ["memory", "sqlite", "postgresql", "mysql", "actor"]
SQL_BACKENDS = ["sqlite", "postgresql", "mysql"]
CONNECT_TIMEOUT_S = 5.0


async def _reset_schema(url: str) -> None:
    engine = make_engine(url)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def server_databases() -> Iterator[dict[str, str | None]]:
    """backend -> None when ready (schema freshly migrated), else the reason to skip."""
    ready: dict[str, str | None] = {}
    for backend, url in SERVER_URLS.items():
        try:
            asyncio.run(_reset_schema(url))
            ready[backend] = None
        except (OSError, TimeoutError, Exception) as exc:  # any failure to reach or migrate
            ready[backend] = f"{backend} at {url} unavailable: {type(exc).__name__}: {exc}"
    yield ready


async def _wipe(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())


async def sql_repository(
    backend: str, tmp_path: Path, server_databases: dict[str, str | None]
) -> SqlRepository:
    """A migrated, empty SQL repository on `backend` (skips when the server is unavailable)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'contract.db'}")
        await upgrade_to_head(engine)
        return SqlRepository(engine)
    reason = server_databases[backend]
    if reason is not None:
        pytest.skip(reason)
    engine = make_engine(SERVER_URLS[backend])
    await _wipe(engine)
    return SqlRepository(engine)


class SurfaceRepository:
    """The storage actor's surface seen as a `Repository`: an in-process `StorageActor` (no
    Ray) or a `RayStorageClient` of a real one. Every operation is the surface's own method;
    the backend-only methods take the actor's paths (`bulk_write` its group commit, `ping` its
    schema check, `close` its shutdown)."""

    def __init__(self, surface: StorageActor | RayStorageClient) -> None:
        self.surface = surface

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.surface, name)  # an operation (storage.repository.Operations)

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except InvalidInput as exc:  # the actor's form of the repository's ValueError
                raise ValueError(exc.message) from exc

        return call

    async def ping(self) -> None:
        await self.surface.ping()

    async def close(self) -> None:
        if isinstance(self.surface, StorageActor):
            await self.surface.shutdown()

    async def bulk_write(self, batch: WriteBatch) -> dict[str, int]:
        ids = await self.surface.submit(batch.messages, batch.sessions)
        if batch.telemetry or batch.audit:
            await self.surface.submit_events(batch.telemetry, batch.audit)
        return {m.row_key: i for m, i in zip(batch.messages, ids, strict=True)}

    async def ensure_server_value(self, name: str, candidate: str) -> str:
        # The actor serves `server_secret` (its own candidate); the primitive is its repository's.
        if not isinstance(self.surface, StorageActor):
            pytest.skip("over Ray the actor serves server_secret, not the primitive")
        await self.surface.ping()
        return await self.surface._repo.ensure_server_value(name, candidate)


@pytest.fixture(params=BACKENDS)
async def repo(
    request: pytest.FixtureRequest, tmp_path: Path, server_databases: dict[str, str | None]
) -> AsyncIterator[Repository]:
    """A fresh, empty repository on each backend."""
    if request.param == "memory":
        yield MemoryRepository()
        return
    if request.param == "actor":
        config = StorageConfig(database_url=f"sqlite:///{tmp_path / 'actor.db'}")
        actor = SurfaceRepository(StorageActor(config))
        yield actor
        await actor.close()
        return
    sql = await sql_repository(request.param, tmp_path, server_databases)
    yield sql
    await sql.close()


@pytest.fixture(params=SQL_BACKENDS)
async def sql_repo(
    request: pytest.FixtureRequest, tmp_path: Path, server_databases: dict[str, str | None]
) -> AsyncIterator[SqlRepository]:
    """A fresh, empty SQL repository on each SQL backend (statement counts, concurrency)."""
    sql = await sql_repository(request.param, tmp_path, server_databases)
    yield sql
    await sql.close()


class StatementCounter:
    """Counts SQL statements sent to the database (`before_cursor_execute`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.statements.append(statement)

    def reset(self) -> None:
        """Forget what was counted so far."""
        self.statements.clear()

    @property
    def count(self) -> int:
        """Statements since the last reset."""
        return len(self.statements)


def message(
    chat_id: str,
    text_: str = "hi",
    *,
    category: str = "question",
    flow_id: str = "flow-1",
    user_id: int | None = 1,
    client_msg_id: str | None = None,
    remark: str | None = None,
    row_key: str | None = None,
) -> MessageRecord:
    """A message record with a fresh row key."""
    return MessageRecord(
        row_key=row_key or uuid.uuid4().hex,
        chat_id=chat_id,
        flow_id=flow_id,
        user_id=user_id,
        is_bot=category != "question",
        message=text_,
        type="human" if category == "question" else "end",
        category=category,
        client_msg_id=client_msg_id,
        remark=remark,
    )


def session(
    chat_id: str, *, flow_id: str = "flow-1", user_id: int | None = 1, flow_type: int = 1
) -> SessionRecord:
    """A session record."""
    return SessionRecord(
        chat_id=chat_id,
        flow_id=flow_id,
        flow_type=flow_type,
        flow_name=f"name of {flow_id}",
        user_id=user_id,
    )


async def chat_with(repo: Repository, chat_id: str, texts: list[str], **kwargs: Any) -> list[int]:
    """Store a session and one message per text (alternating question/answer); their ids."""
    owner = {k: v for k, v in kwargs.items() if k in ("flow_id", "user_id")}
    rows = [
        message(chat_id, t, category="question" if i % 2 == 0 else "answer", **owner)
        for i, t in enumerate(texts)
    ]
    ids = await repo.bulk_write(WriteBatch(rows, [session(chat_id, **kwargs)]))
    return [ids[r.row_key] for r in rows]
