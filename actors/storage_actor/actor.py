"""The storage actor: the one writer. Rows from all sessions are group-committed; reads and
single-row changes are short transactions of their own. A plain class: `actors.ray.registry` wraps
it with Ray (detached, `max_restarts=-1`).

Its storage operations are not written out: each is `operation(Operations.<name>)`, an actor
method with the protocol's signature and docstring that waits for readiness, calls the repository
and maps failures to domain errors (`ready`). Only methods with logic of their own (group commit,
the generated server secret, lifecycle) are written here, under the same `ready` decorator.

Lifecycle: the first call checks the schema (`storage.migrate.check_schema`): an empty database
is initialized to the migration head, a current one is used, anything else makes every call
fail with StorageUnavailable saying "run `raychat migrate`", and the next call checks again (so
migrating fixes a running server without a restart). Durability never depends on `shutdown`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from actors.config import StorageConfig
from actors.metrics import NO_METRICS, ClusterMetrics
from actors.storage_actor.errors import domain_errors
from actors.storage_actor.group_commit import FlushStats, GroupCommitter
from storage.migrate import check_schema
from storage.records import AuditRecord, MessageRecord, SessionRecord, TelemetryRecord
from storage.repository import Operations
from storage.sql import SqlRepository, make_engine
from storage.sql.engine import is_in_memory

P = ParamSpec("P")
R = TypeVar("R")
ActorMethod = Callable[Concatenate["StorageActor", P], Coroutine[Any, Any, R]]

FLUSHER_CONNECTIONS = 2  # one flush at a time, plus one for the op-by-op rewrite's overlap


def ready(method: Callable[Concatenate[StorageActor, P], Awaitable[R]]) -> ActorMethod[P, R]:
    """Decorate a StorageActor method: it first waits for the schema check, and storage
    failures leave it as domain errors (`actors.storage_actor.errors`)."""

    async def call(self: StorageActor, /, *args: P.args, **kwargs: P.kwargs) -> R:
        await self._ensure_ready()
        return await method(self, *args, **kwargs)

    functools.update_wrapper(call, method)
    return domain_errors(call)


def operation(op: Callable[Concatenate[Operations, P], Awaitable[R]]) -> ActorMethod[P, R]:
    """The actor method serving repository operation `op` (`Operations.<name>`): same name,
    signature and docstring, run by the actor's repository once ready."""
    name = op.__name__

    async def call(self: StorageActor, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return cast(R, await getattr(self._repo, name)(*args, **kwargs))

    functools.update_wrapper(call, op)
    call.__qualname__ = f"StorageActor.{name}"  # not Operations.<name>, in reprs and logs
    # The signature is the protocol's, held by `call` itself: with `__wrapped__` left pointing at
    # `Operations.<name>`, Ray's tracing injection (which rewrites the deepest unwrapped
    # function's `__signature__`) would change the protocol's own signature process-wide.
    call.__signature__ = inspect.signature(op)  # type: ignore[attr-defined]
    del call.__wrapped__  # type: ignore[attr-defined]
    return ready(call)


class StorageActor:
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

    @ready
    async def ping(self) -> bool:
        """True when the database answers and its schema is current. Concurrent-safe; raises
        StorageUnavailable (with the reason) otherwise."""
        await self._repo.ping()
        return True

    @ready
    async def submit(
        self, messages: Sequence[MessageRecord], sessions: Sequence[SessionRecord] = ()
    ) -> list[int]:
        """Group-commit rows; returns the message ids once committed (idempotent by row key;
        a question whose chat already holds its `client_msg_id` gets the existing row's id).

        Concurrent-safe. Waits while the write queue is full. Raises the database error of the
        batch; nothing is acknowledged that was not committed.
        """
        return await self._committer.submit(messages, sessions)

    @ready
    async def submit_events(
        self, telemetry: Sequence[TelemetryRecord] = (), audit: Sequence[AuditRecord] = ()
    ) -> None:
        """Group-commit telemetry events and audit-log entries (idempotent by `event_key`);
        returns once committed. Concurrent-safe; fails like `submit`."""
        await self._committer.submit((), (), telemetry, audit)

    async def queue_depth(self) -> int:
        """Ops waiting for the next flush. Concurrent-safe, never fails."""
        return self._committer.depth

    async def flush_stats(self) -> list[FlushStats]:
        """The most recent flushes (up to 100), oldest first, for `/metrics`. Concurrent-safe,
        read-only, never fails."""
        return list(self._committer.flushes)

    @ready
    async def server_secret(self, name: str) -> str:
        """The server-wide secret `name` (e.g. the JWT signing secret when the operator set
        none), generated on first use (`secrets.token_urlsafe(48)`, 64 characters) and stored
        in the database. Concurrent-safe and idempotent: every replica, node and restart gets
        the same value (insert-if-absent, then read back)."""
        return await self._repo.ensure_server_value(name, secrets.token_urlsafe(48))

    async def shutdown(self) -> None:
        """Flush queued rows (their callers get their ids; see `GroupCommitter.stop`) and close
        the pools. Not concurrent with itself. Durability never depends on this running."""
        await self._committer.stop()
        await self._repo.close()
        if self._writer is not self._repo:
            await self._writer.close()

    # The storage operations (storage/repository.py), one line each.

    history = operation(Operations.history)
    session_messages = operation(Operations.session_messages)
    get_message = operation(Operations.get_message)
    get_messages = operation(Operations.get_messages)
    find_client_message = operation(Operations.find_client_message)
    update_message = operation(Operations.update_message)
    delete_message = operation(Operations.delete_message)
    set_liked = operation(Operations.set_liked)
    mark_copied = operation(Operations.mark_copied)
    set_comment = operation(Operations.set_comment)

    claim_session = operation(Operations.claim_session)
    session_owner = operation(Operations.session_owner)
    get_session = operation(Operations.get_session)
    list_chats = operation(Operations.list_chats)
    rename_session = operation(Operations.rename_session)
    delete_session = operation(Operations.delete_session)
    copy_session = operation(Operations.copy_session)
    audit_sessions = operation(Operations.audit_sessions)
    stats = operation(Operations.stats)

    create_flow = operation(Operations.create_flow)
    put_flow = operation(Operations.put_flow)
    get_flow = operation(Operations.get_flow)
    update_flow = operation(Operations.update_flow)
    delete_flow = operation(Operations.delete_flow)
    list_flows = operation(Operations.list_flows)
    flow_versions = operation(Operations.flow_versions)
    create_assistant = operation(Operations.create_assistant)
    get_assistant = operation(Operations.get_assistant)
    update_assistant = operation(Operations.update_assistant)
    delete_assistant = operation(Operations.delete_assistant)
    list_assistants = operation(Operations.list_assistants)
    list_online_apps = operation(Operations.list_online_apps)

    ensure_user = operation(Operations.ensure_user)
    create_user = operation(Operations.create_user)
    get_user = operation(Operations.get_user)
    get_user_by_name = operation(Operations.get_user_by_name)
    list_telemetry = operation(Operations.list_telemetry)
    list_audit_log = operation(Operations.list_audit_log)
