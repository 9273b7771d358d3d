"""Pinned SQL statement counts (Zulip-style): a flush and the hot reads must not grow a query
per row. Counted with SQLAlchemy's `before_cursor_execute` on each SQL backend."""

from __future__ import annotations

from datetime import timedelta

from storage.records import HistoryQuery, SessionFilter, StatsFilter, WriteBatch, utcnow
from storage.sql import SqlRepository
from storage.sql.message_insert import supports_returning
from tests.contract.conftest import StatementCounter, chat_with, message, session


async def _counter(repo: SqlRepository) -> StatementCounter:
    await repo.ping()  # first-connect dialect probes are not ours to count
    counter = StatementCounter(repo.engine)
    return counter


async def test_flush_is_one_statement_per_table(sql_repo: SqlRepository) -> None:
    counter = await _counter(sql_repo)
    chats = [f"c{i}" for i in range(20)]
    rows = [message(c, f"m{j}") for c in chats for j in range(10)]
    ids = await sql_repo.bulk_write(WriteBatch(rows, [session(c) for c in chats]))
    assert len(ids) == 200
    # session upsert (creates the sessions, touches existing ones), message INSERT RETURNING
    # ids (MySQL without RETURNING reads them back; MariaDB >= 10.5 has it)
    readback = 0 if supports_returning(sql_repo.engine.dialect) else 1
    assert counter.count == 2 + readback, counter.statements
    counter.reset()
    await sql_repo.bulk_write(WriteBatch(rows[:50], []))  # a full retry: existing ids are read back
    # INSERT, id read-back (MariaDB's RETURNING already gives the stored rows), session touch
    mariadb = getattr(sql_repo.engine.dialect, "is_mariadb", False)
    assert counter.count == (2 if mariadb else 3), counter.statements
    counter.reset()
    answers = [message(c, "answer", category="answer") for c in chats]
    await sql_repo.bulk_write(WriteBatch(answers, [session(c) for c in chats[:10]]))
    # upsert of the 10 given sessions, message INSERT, touch of the 10 chats without a session
    assert counter.count == 3 + readback, counter.statements


async def test_hot_reads_are_single_statements(sql_repo: SqlRepository) -> None:
    await chat_with(sql_repo, "c1", [f"m{i}" for i in range(30)])
    counter = await _counter(sql_repo)
    page = await sql_repo.history(HistoryQuery("c1", "flow-1", None, 20))
    await sql_repo.history(HistoryQuery("c1", "flow-1", page[-1].id, 20))
    assert counter.count == 2
    counter.reset()
    await sql_repo.session_messages("c1")
    await sql_repo.session_owner("c1")
    assert counter.count == 2


async def test_list_audit_and_stats_are_a_fixed_number_of_statements(
    sql_repo: SqlRepository,
) -> None:
    for i in range(15):
        await chat_with(sql_repo, f"c{i}", ["q", "a"])
    counter = await _counter(sql_repo)
    chats = await sql_repo.list_chats(1, limit=10)
    assert len(chats) == 10 and all(c.latest_message is not None for c in chats)
    assert counter.count == 2  # the page, then every latest message at once
    counter.reset()
    page = await sql_repo.audit_sessions(SessionFilter(start=utcnow() - timedelta(days=1)))
    assert page.total == 15 and counter.count == 2  # count + page
    counter.reset()
    stats = await sql_repo.stats(StatsFilter(owner_id=1))
    assert counter.count == 3  # sessions per day, distinct users, messages per day
    assert stats.sessions == 0


async def test_feedback_and_copy_statement_counts(sql_repo: SqlRepository) -> None:
    ids = await chat_with(sql_repo, "c1", [f"m{i}" for i in range(40)])
    counter = await _counter(sql_repo)
    await sql_repo.set_liked(ids[1], 1)
    # [SQLite write lock] + SELECT ... FOR UPDATE + UPDATE message + UPDATE counters
    lock = 1 if sql_repo.engine.dialect.name == "sqlite" else 0
    assert counter.count == 3 + lock, counter.statements
    counter.reset()
    await sql_repo.mark_copied(ids[1])
    assert counter.count == 2  # conditional UPDATE + counter UPDATE
    counter.reset()
    assert await sql_repo.copy_session("c1", "copy", 1)
    assert counter.count == 2  # INSERT ... SELECT for the session, one for all 40 messages
    assert len(await sql_repo.session_messages("copy")) == 40
