"""Group-commit isolation on every SQL backend (review §5): one caller's row that the database
cannot store fails that caller alone, with a generic message; the rest of its batch commits."""

from __future__ import annotations

import asyncio

import pytest

from actors.errors import InvalidInput
from actors.storage_actor.errors import BAD_VALUE_MESSAGE, to_domain_error
from actors.storage_actor.group_commit import GroupCommitter
from storage.records import HistoryQuery, WriteBatch
from storage.sql import SqlRepository
from tests.contract.conftest import message, session

POISONS = {"surrogate": "a\ud800b", "nul": "a\x00b"}


def _poisons_for(repo: SqlRepository) -> list[str]:
    # NUL is a valid character for SQLite and MariaDB text; only PostgreSQL refuses it.
    names = ["surrogate", "nul"] if repo.engine.dialect.name == "postgresql" else ["surrogate"]
    return [POISONS[n] for n in names]


async def test_a_bad_row_fails_only_its_caller(sql_repo: SqlRepository) -> None:
    for n, poison in enumerate(_poisons_for(sql_repo)):
        chat = f"victim-{n}"
        # max_rows=4 (2 rows per op): both ops are one batch, deterministically.
        committer = GroupCommitter(sql_repo.bulk_write, max_rows=4, max_delay_s=5, max_queue=10)
        victim = message(chat, "hello")
        bad = message("bad-chat", poison)
        results = await asyncio.gather(
            committer.submit([victim], [session(chat)]),
            committer.submit([bad], [session("bad-chat")]),
            return_exceptions=True,
        )
        victim_ids, failure = results
        assert isinstance(victim_ids, list) and len(victim_ids) == 1
        assert isinstance(failure, Exception)
        mapped = to_domain_error(failure)
        assert isinstance(mapped, InvalidInput) and mapped.message == BAD_VALUE_MESSAGE
        assert len(committer.flushes) == 0  # the batch itself failed and was isolated
        page = await sql_repo.history(HistoryQuery(chat, "flow-1", None, 10))
        assert [m.message for m in page] == ["hello"] and page[0].id == victim_ids[0]
        assert await sql_repo.history(HistoryQuery("bad-chat", "flow-1", None, 10)) == []
        # A retry of the victim (same row key) is idempotent: same id, no second row.
        assert await committer.submit([victim]) == victim_ids
        assert len(await sql_repo.history(HistoryQuery(chat, "flow-1", None, 10))) == 1
        await committer.stop()


@pytest.mark.parametrize("poison", ["surrogate"])
async def test_isolated_batch_keeps_events_idempotent(sql_repo: SqlRepository, poison: str) -> None:
    committer = GroupCommitter(sql_repo.bulk_write, max_rows=4, max_delay_s=5, max_queue=10)
    good = message("good-chat", "fine")
    results = await asyncio.gather(
        committer.submit([good], [session("good-chat")]),
        committer.submit([message("bad", POISONS[poison])], [session("bad")]),
        return_exceptions=True,
    )
    assert isinstance(results[0], list) and isinstance(results[1], Exception)
    again = await sql_repo.bulk_write(WriteBatch([good], [session("good-chat")]))
    assert again[good.row_key] == results[0][0]
    await committer.stop()
