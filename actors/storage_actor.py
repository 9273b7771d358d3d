"""The storage actor: the one writer. Rows from all sessions are group-committed; reads are
single queries. A plain class: `actors.registry` wraps it with Ray."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from actors.config import StorageConfig
from actors.group_commit import GroupCommitter
from storage import SqlRepository, make_engine
from storage.records import FlowRecord, MessageRecord, MessageRow, SessionRecord, UserRecord


class StorageActor:
    """Owns the database engine and the group committer.

    Every method may run concurrently with every other (async actor). On a database error a
    method raises it to its caller and the actor stays usable; if the actor process dies, Ray
    restarts it and callers retry with the same row keys (inserts are idempotent).
    """

    def __init__(self, config: StorageConfig) -> None:
        self._config = config
        self._repo = SqlRepository(make_engine(config.database_url))
        self._committer = GroupCommitter(
            self._repo.bulk_write,
            max_rows=config.batch_max_rows,
            max_delay_s=config.batch_max_delay_ms / 1000.0,
            max_queue=config.queue_max_ops,
        )
        self._ready: asyncio.Task[None] | None = None

    async def _ensure_ready(self) -> None:
        # The first caller creates the schema; everyone else awaits the same task.
        if self._ready is None or (self._ready.done() and self._ready.exception()):
            self._ready = asyncio.get_running_loop().create_task(self._prepare())
        await asyncio.shield(self._ready)

    async def _prepare(self) -> None:
        if self._config.create_schema:
            await self._repo.create_schema()
        self._committer.start()

    async def ping(self) -> bool:
        """True when the database answers. Concurrent-safe; raises on a database error."""
        await self._ensure_ready()
        await self._repo.ping()
        return True

    async def submit(
        self, messages: Sequence[MessageRecord], sessions: Sequence[SessionRecord] = ()
    ) -> list[int]:
        """Group-commit rows; returns the message ids once committed (idempotent by row key).

        Concurrent-safe. Waits while the write queue is full. Raises the database error of the
        batch; nothing is acknowledged that was not committed.
        """
        await self._ensure_ready()
        return await self._committer.submit(messages, sessions)

    async def queue_depth(self) -> int:
        """Ops waiting for the next flush."""
        return self._committer.depth

    async def history(
        self, chat_id: str, flow_id: str, before_id: int | None, limit: int
    ) -> list[MessageRow]:
        """A history page, newest first. Concurrent-safe, read-only."""
        await self._ensure_ready()
        return await self._repo.history(chat_id, flow_id, before_id, limit)

    async def recent_context(self, chat_id: str, limit: int) -> list[MessageRow]:
        """Newest `limit` context messages, oldest first. Concurrent-safe, read-only."""
        await self._ensure_ready()
        return await self._repo.recent_context(chat_id, limit)

    async def session_owner(self, chat_id: str) -> tuple[int | None, str] | None:
        """`(user_id, flow_id)` of a chat or None. Concurrent-safe, read-only."""
        await self._ensure_ready()
        return await self._repo.session_owner(chat_id)

    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        """The live flow or None. Concurrent-safe, read-only."""
        await self._ensure_ready()
        return await self._repo.get_flow(flow_id)

    async def put_flow(self, flow: FlowRecord) -> None:
        """Insert or replace a flow. Concurrent-safe (last writer wins)."""
        await self._ensure_ready()
        await self._repo.put_flow(flow)

    async def ensure_user(self, user_name: str, role: str, password_hash: str = "") -> UserRecord:
        """The named user, created if missing. Concurrent-safe (unique name)."""
        await self._ensure_ready()
        return await self._repo.ensure_user(user_name, role, password_hash)

    async def get_user(self, user_id: int) -> UserRecord | None:
        """A user by id or None. Concurrent-safe, read-only."""
        await self._ensure_ready()
        return await self._repo.get_user(user_id)

    async def shutdown(self) -> None:
        """Flush queued rows and close the pool. Durability never depends on this running."""
        await self._committer.stop()
        await self._repo.close()
