"""The storage actor: the one writer. Rows from all sessions are group-committed; reads and
single-row changes are short transactions of their own. A plain class: `actors.ray.registry` wraps
it with Ray (detached, `max_restarts=-1`).

Lifecycle: the first call checks the schema (`storage.migrate.check_schema`): an empty database
is initialized to the migration head, a current one is used, anything else makes every call
fail with StorageUnavailable saying "run `raychat migrate`", and the next call checks again (so
migrating fixes a running server without a restart). Durability never depends on `shutdown`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from actors.config import StorageConfig
from actors.metrics import NO_METRICS, ClusterMetrics
from actors.storage_actor.errors import domain_errors
from actors.storage_actor.group_commit import FlushStats, GroupCommitter
from actors.storage_actor.operations import StorageOperations
from storage.migrate import check_schema
from storage.records import (
    AuditRecord,
    FlowRecord,
    MessageRecord,
    MessageRow,
    SessionClaim,
    SessionRecord,
    TelemetryRecord,
    UserRecord,
)
from storage.sql import SqlRepository, make_engine
from storage.sql.engine import is_in_memory

FLUSHER_CONNECTIONS = 2  # one flush at a time, plus one for the op-by-op rewrite's overlap


class StorageActor(StorageOperations):
    """Owns the database engine and the group committer.

    Every method may run concurrently with every other (async actor). On a database error a
    method raises a domain error (StorageUnavailable, InvalidInput, Conflict) to its caller and
    the actor stays usable; if the actor process dies, Ray restarts it and callers retry with
    the same row keys (inserts are idempotent).
    """

    def __init__(self, config: StorageConfig, metrics: ClusterMetrics = NO_METRICS) -> None:
        self._config = config
        self._repo = SqlRepository(
            make_engine(config.database_url, config.statement_timeout_s, config.pool_timeout_s)
        )
        # The flusher writes through a pool of its own: a read flood cannot delay commits.
        self._writer = self._repo
        if not is_in_memory(config.database_url):
            self._writer = SqlRepository(
                make_engine(
                    config.database_url,
                    config.statement_timeout_s,
                    config.pool_timeout_s,
                    pool_size=FLUSHER_CONNECTIONS,
                )
            )
        self._committer = GroupCommitter(
            self._writer.bulk_write,
            max_rows=config.batch_max_rows,
            max_delay_s=config.batch_max_delay_ms / 1000.0,
            max_queue=config.queue_max_ops,
            metrics=metrics,
        )
        self._ready: asyncio.Task[None] | None = None

    async def _ensure_ready(self) -> None:
        # The first caller checks the schema; everyone else awaits the same task.
        ready = self._ready
        if ready is not None and ready.done() and not ready.exception():
            return  # the hot path: no shield, no extra await per call
        if self._ready is None or (self._ready.done() and self._ready.exception()):
            self._ready = asyncio.get_running_loop().create_task(self._prepare())
        await asyncio.shield(self._ready)

    async def _prepare(self) -> None:
        await check_schema(self._repo.engine, initialize_empty=self._config.create_schema)
        self._committer.start()

    @domain_errors
    async def ping(self) -> bool:
        """True when the database answers and its schema is current. Concurrent-safe; raises
        StorageUnavailable (with the reason) otherwise."""
        await self._ensure_ready()
        await self._repo.ping()
        return True

    @domain_errors
    async def submit(
        self, messages: Sequence[MessageRecord], sessions: Sequence[SessionRecord] = ()
    ) -> list[int]:
        """Group-commit rows; returns the message ids once committed (idempotent by row key;
        a question whose chat already holds its `client_msg_id` gets the existing row's id).

        Concurrent-safe. Waits while the write queue is full. Raises the database error of the
        batch; nothing is acknowledged that was not committed.
        """
        await self._ensure_ready()
        return await self._committer.submit(messages, sessions)

    @domain_errors
    async def submit_events(
        self, telemetry: Sequence[TelemetryRecord] = (), audit: Sequence[AuditRecord] = ()
    ) -> None:
        """Group-commit telemetry events and audit-log entries (idempotent by `event_key`);
        returns once committed. Concurrent-safe; fails like `submit`."""
        await self._ensure_ready()
        await self._committer.submit((), (), telemetry, audit)

    async def queue_depth(self) -> int:
        """Ops waiting for the next flush. Concurrent-safe, never fails."""
        return self._committer.depth

    async def flush_stats(self) -> list[FlushStats]:
        """The most recent flushes (up to 100), oldest first, for `/metrics`. Concurrent-safe,
        read-only, never fails."""
        return list(self._committer.flushes)

    @domain_errors
    async def history(
        self,
        chat_id: str,
        flow_id: str,
        before_id: int | None,
        limit: int,
        include_deleted: bool = False,
    ) -> list[MessageRow]:
        """A history page, newest first; [] for a missing, other-flow or soft-deleted chat
        (unless `include_deleted`, for audit reads). Concurrent-safe, read-only."""
        await self._ensure_ready()
        return await self._repo.history(chat_id, flow_id, before_id, limit, include_deleted)

    @domain_errors
    async def recent_context(self, chat_id: str, limit: int) -> list[MessageRow]:
        """Newest `limit` context messages, oldest first. Concurrent-safe, read-only."""
        await self._ensure_ready()
        return await self._repo.recent_context(chat_id, limit)

    @domain_errors
    async def session_owner(self, chat_id: str) -> tuple[int | None, str] | None:
        """`(user_id, flow_id)` of a chat (soft-deleted too) or None. Concurrent-safe, read-only."""
        await self._ensure_ready()
        return await self._repo.session_owner(chat_id)

    @domain_errors
    async def claim_session(self, record: SessionRecord) -> SessionClaim:
        """Create the chat's session row unless it exists and return who owns it (the first
        creator; ownership never changes). Concurrent claims of one chat id agree on one
        owner (insert-or-verify in one transaction); idempotent, so callers may retry."""
        await self._ensure_ready()
        return await self._repo.claim_session(record)

    @domain_errors
    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        """The live flow or None. Concurrent-safe, read-only."""
        await self._ensure_ready()
        return await self._repo.get_flow(flow_id)

    @domain_errors
    async def put_flow(self, flow: FlowRecord) -> None:
        """Insert or replace a flow. Concurrent-safe (last writer wins)."""
        await self._ensure_ready()
        await self._repo.put_flow(flow)

    @domain_errors
    async def ensure_user(self, user_name: str, role: str, password_hash: str = "") -> UserRecord:
        """The named user, created if missing. Concurrent-safe (unique name)."""
        await self._ensure_ready()
        return await self._repo.ensure_user(user_name, role, password_hash)

    @domain_errors
    async def get_user(self, user_id: int) -> UserRecord | None:
        """A user by id or None. Concurrent-safe, read-only."""
        await self._ensure_ready()
        return await self._repo.get_user(user_id)

    async def shutdown(self) -> None:
        """Flush queued rows and close the pool. Durability never depends on this running."""
        await self._committer.stop()
        await self._repo.close()
        if self._writer is not self._repo:
            await self._writer.close()
