"""Message reads and changes: history, context, edit, delete, like/copy/comment (API.md §5)."""

from __future__ import annotations

import pytest

from storage.records import HistoryQuery, WriteBatch
from storage.repository import Repository
from tests.contract.conftest import chat_with, message, session


async def test_history_pages_by_cursor_and_joins_names(repo: Repository) -> None:
    user = await repo.ensure_user("alice", "user", "")
    ids = await chat_with(repo, "c1", [f"m{i}" for i in range(5)], user_id=user.id)
    first = await repo.history(HistoryQuery("c1", "flow-1", None, 2))
    assert [m.id for m in first] == [ids[4], ids[3]]
    assert (first[0].user_name, first[0].flow_name) == ("alice", "name of flow-1")
    second = await repo.history(HistoryQuery("c1", "flow-1", first[-1].id, 2))
    assert [m.id for m in second] == [ids[2], ids[1]]
    assert await repo.history(HistoryQuery("c1", "other-flow", None, 10)) == []
    assert await repo.history(HistoryQuery("missing", "flow-1", None, 10)) == []


async def test_session_messages_are_the_newest_n_oldest_first(repo: Repository) -> None:
    await chat_with(repo, "c1", [f"m{i}" for i in range(6)])
    assert [m.message for m in await repo.session_messages("c1", limit=4)] == [
        "m2",
        "m3",
        "m4",
        "m5",
    ]
    assert len(await repo.session_messages("c1")) == 6
    assert await repo.session_messages("missing") == []


async def test_get_messages_and_update_text(repo: Repository) -> None:
    ids = await chat_with(repo, "c1", ["q", "a"])
    assert [m.message for m in await repo.get_messages([ids[1], ids[0], 999_999])] == ["q", "a"]
    assert await repo.update_message(ids[1], "edited", category="answer_edited")
    row = await repo.get_message(ids[1])
    assert row is not None and (row.message, row.category) == ("edited", "answer_edited")
    assert await repo.update_message(ids[0], "q2")
    row = await repo.get_message(ids[0])
    assert row is not None and (row.message, row.category) == ("q2", "question")
    assert not await repo.update_message(999_999, "x")
    assert await repo.get_message(999_999) is None


# (old liked, new liked) -> (like, dislike) counters after starting from `old`.
TRANSITIONS = [
    (0, 1, (1, 0)),
    (0, 2, (0, 1)),
    (1, 0, (0, 0)),
    (2, 0, (0, 0)),
    (1, 2, (0, 1)),
    (2, 1, (1, 0)),
    (1, 1, (1, 0)),
    (2, 2, (0, 1)),
    (0, 0, (0, 0)),
]


@pytest.mark.parametrize(("old", "new", "counters"), TRANSITIONS)
async def test_liked_moves_session_counters(
    repo: Repository, old: int, new: int, counters: tuple[int, int]
) -> None:
    ids = await chat_with(repo, "c1", ["q", "a"])
    await repo.set_liked(ids[1], old)
    assert await repo.set_liked(ids[1], new) == old
    s = await repo.get_session("c1")
    assert s is not None and (s.like, s.dislike) == counters
    row = await repo.get_message(ids[1])
    assert row is not None and row.liked == new


async def test_liked_rejects_bad_values_and_missing_messages(repo: Repository) -> None:
    ids = await chat_with(repo, "c1", ["q"])
    with pytest.raises(ValueError):
        await repo.set_liked(ids[0], 3)
    assert await repo.set_liked(999_999, 1) is None


async def test_first_copy_counts_once(repo: Repository) -> None:
    ids = await chat_with(repo, "c1", ["q", "a"])
    assert await repo.mark_copied(ids[1]) is True
    assert await repo.mark_copied(ids[1]) is False
    assert await repo.mark_copied(ids[0]) is True
    assert await repo.mark_copied(999_999) is None
    s = await repo.get_session("c1")
    assert s is not None and s.copied == 2


async def test_comment_has_its_own_column_and_a_limit(repo: Repository) -> None:
    rows = [message("c1", "partial", category="answer", remark="break_answer")]
    ids = await repo.bulk_write(WriteBatch(rows, [session("c1")]))
    message_id = ids[rows[0].row_key]
    assert await repo.set_comment(message_id, "x" * 4096)
    row = await repo.get_message(message_id)
    assert row is not None and (row.remark, row.comment) == ("break_answer", "x" * 4096)
    with pytest.raises(ValueError):
        await repo.set_comment(message_id, "x" * 4097)
    assert not await repo.set_comment(999_999, "hi")


async def test_delete_message_takes_its_feedback_off_the_counters(repo: Repository) -> None:
    ids = await chat_with(repo, "c1", ["q", "a1", "q2", "a2"])
    await repo.set_liked(ids[1], 1)
    await repo.set_liked(ids[3], 2)
    await repo.mark_copied(ids[1])
    assert await repo.delete_message(ids[1])
    s = await repo.get_session("c1")
    assert s is not None and (s.like, s.dislike, s.copied) == (0, 1, 0)
    assert [m.id for m in await repo.history(HistoryQuery("c1", "flow-1", None, 10))] == [
        ids[3],
        ids[2],
        ids[0],
    ]
    assert not await repo.delete_message(ids[1])
