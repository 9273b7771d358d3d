"""Migration 0003: question rows stored as plain text (before it) become the JSON of their
inputs, so Bisheng's platform renders old histories (`message[chatKey]`, messageStore.ts:60-75)
and model context still reads the asked text."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from actors.sessions.model_context import context_from_rows, question_text
from storage.migrate import head_revision, schema_status, upgrade_to_head
from storage.records import HistoryQuery, WriteBatch
from storage.sql import SqlRepository
from storage.sql.engine import make_engine
from tests.contract.conftest import message, session


async def test_plain_text_question_rows_become_inputs_json(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    await upgrade_to_head(engine, "0002")
    repo = SqlRepository(engine)
    with_extra = message("c1", "Who wrote it?")
    plain = message("c1", "second question")
    answer = message("c1", "An answer", category="answer")
    already = message("c1", json.dumps({"question": "kept"}))
    rows = [with_extra, answer, plain, already]
    ids = await repo.bulk_write(WriteBatch(rows, [session("c1")]))
    async with engine.begin() as conn:  # what 0001/0002-era turns wrote: extra carried inputs
        await conn.execute(
            text("UPDATE chatmessage SET extra = :extra WHERE id = :id"),
            {"extra": json.dumps({"inputs": {"question": "Who wrote it?", "id": "n1"}}),
             "id": ids[with_extra.row_key]},
        )  # fmt: skip
    await upgrade_to_head(engine)
    assert (await schema_status(engine)).revision == head_revision()
    by_id = {r.id: r for r in await repo.history(HistoryQuery("c1", "flow-1", None, 10))}
    assert json.loads(by_id[ids[with_extra.row_key]].message) == {"question": "Who wrote it?"}
    assert json.loads(by_id[ids[plain.row_key]].message) == {"input": "second question"}
    assert json.loads(by_id[ids[already.row_key]].message) == {"question": "kept"}
    assert by_id[ids[answer.row_key]].message == "An answer"  # answers stay text
    context = context_from_rows(list(by_id.values()), 10)
    assert [m.content for m in context][:3] == ["Who wrote it?", "An answer", "second question"]
    await engine.dispose()


def test_question_text_reads_both_forms() -> None:
    assert question_text('{"input": "hi", "data": {"chatId": "c"}}') == "hi"
    assert question_text('{"question": "Who?"}') == "Who?"
    assert question_text("plain text from REST") == "plain text from REST"
    assert question_text("[1, 2]") == "[1, 2]"
