"""StorageActor in-process (no Ray) on SQLite: schema check at startup, domain errors, events
through group commit."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from actors.config import StorageConfig
from actors.errors import InvalidInput, StorageUnavailable
from actors.storage_actor.actor import StorageActor
from actors.storage_actor.errors import BAD_VALUE_MESSAGE
from storage.migrate import head_revision
from storage.records import AuditRecord, HistoryQuery, MessageRecord, SessionRecord, TelemetryRecord
from storage.sql.engine import make_engine


def _question(chat_id: str) -> MessageRecord:
    return MessageRecord(
        row_key=uuid.uuid4().hex, chat_id=chat_id, flow_id="f", user_id=1, is_bot=False,
        message="q", type="human", category="question",
    )  # fmt: skip


async def _set_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    await engine.dispose()


async def test_unknown_schema_is_refused_until_fixed_without_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    first = StorageActor(StorageConfig(database_url=url))
    assert await first.ping()  # empty database: initialized to head
    await first.shutdown()
    await _set_revision(url, "deadbeef")
    actor = StorageActor(StorageConfig(database_url=url))
    with pytest.raises(StorageUnavailable, match="raychat migrate"):
        await actor.ping()
    with pytest.raises(StorageUnavailable):
        await actor.submit([_question("c")])
    await _set_revision(url, head_revision())  # what `raychat migrate` would leave behind
    assert await actor.ping()
    assert len(await actor.submit([_question("c")])) == 1
    await actor.shutdown()


async def test_bad_input_becomes_invalid_input(storage: StorageActor) -> None:
    [message_id] = await storage.submit(
        [_question("c")], [SessionRecord("c", "f", 1, "flow", user_id=1)]
    )
    with pytest.raises(InvalidInput):
        await storage.set_comment(message_id, "x" * 5000)
    with pytest.raises(InvalidInput):
        await storage.set_liked(message_id, 7)
    assert await storage.set_liked(message_id, 1) == 0
    session = await storage.get_session("c")
    assert session is not None and session.like == 1


async def test_events_are_group_committed(storage: StorageActor) -> None:
    event = TelemetryRecord(uuid.uuid4().hex, "message_feedback", 1, {"operation_type": "copy"})
    entry = AuditRecord(uuid.uuid4().hex, 1, "rename", "chat", "c")
    await storage.submit_events([event], [entry])
    await storage.submit_events([event], [entry])  # a retry stores nothing twice
    assert [e.event_key for e in await storage.list_telemetry("message_feedback")] == [
        event.event_key
    ]
    assert [a.action for a in await storage.list_audit_log(1)] == ["rename"]


async def test_copy_session_copies_to_the_callers_chat_id(storage: StorageActor) -> None:
    # The caller picks the new id (the REST service, so that a retried copy copies once).
    await storage.submit([_question("src")], [SessionRecord("src", "f", 1, "flow", user_id=1)])
    new_id = uuid.uuid4().hex
    assert await storage.copy_session("src", new_id, user_id=1)
    assert [m.message for m in await storage.session_messages(new_id)] == ["q"]
    assert not await storage.copy_session("missing", uuid.uuid4().hex, user_id=1)


async def test_a_lone_surrogate_fails_only_its_own_submit(tmp_path: Path) -> None:
    # Review §5: one user's bad text used to fail every write in the same group-commit batch.
    # batch_max_rows=4 (a message and a session per op) puts both ops in one batch.
    actor = StorageActor(
        StorageConfig(
            database_url=f"sqlite:///{tmp_path / 'chat.db'}",
            batch_max_rows=4,
            batch_max_delay_ms=5000,
        )
    )
    await actor.ping()
    victim, poison = _question("victim"), _question("bad")
    poison = dataclasses.replace(poison, message="a\ud800")
    # Declared first: mypy cannot infer names unpacked straight from `await gather(...)` of
    # decorated coroutine functions.
    ids: list[int] | BaseException
    failure: list[int] | BaseException
    ids, failure = await asyncio.gather(
        actor.submit([victim], [SessionRecord("victim", "f", 1, "flow", user_id=1)]),
        actor.submit([poison], [SessionRecord("bad", "f", 1, "flow", user_id=2)]),
        return_exceptions=True,
    )
    assert isinstance(ids, list) and len(ids) == 1
    assert isinstance(failure, InvalidInput)
    assert failure.message == BAD_VALUE_MESSAGE and "surrogate" not in failure.message
    assert [m.id for m in await actor.history(HistoryQuery("victim", "f", None, 10))] == ids
    await actor.shutdown()
