"""Sessions: chat list, rename, soft delete, copy, audit query."""

from __future__ import annotations

from datetime import timedelta

from storage.records import (
    FLOW_TYPE_ASSISTANT,
    FLOW_TYPE_FLOW,
    HistoryQuery,
    SessionFilter,
    WriteBatch,
    utcnow,
)
from storage.repository import Repository
from tests.contract.conftest import chat_with, message, session


async def test_chat_list_is_the_callers_live_sessions_newest_first(repo: Repository) -> None:
    for i in range(5):
        await chat_with(
            repo,
            f"c{i}",
            [f"q{i}", f"a{i}"],
            flow_type=FLOW_TYPE_ASSISTANT if i % 2 else FLOW_TYPE_FLOW,
        )
    await repo.bulk_write(WriteBatch([message("empty")], [session("someone-else", user_id=2)]))
    await repo.bulk_write(WriteBatch([], [session("no-messages")]))
    await repo.delete_session("c3")
    chats = await repo.list_chats(1)
    assert [c.session.chat_id for c in chats] == ["no-messages", "c4", "c2", "c1", "c0"]
    assert chats[0].latest_message is None
    latest = chats[1].latest_message
    assert latest is not None and latest.message == "a4"
    assistants = await repo.list_chats(1, flow_types=[5])
    assert [c.session.chat_id for c in assistants] == ["c1"]
    page2 = await repo.list_chats(1, page=2, limit=2)
    assert [c.session.chat_id for c in page2] == ["c2", "c1"]
    assert await repo.list_chats(99) == []


async def test_rename_sets_the_name_of_live_sessions_only(repo: Repository) -> None:
    await chat_with(repo, "c1", ["q"])
    assert await repo.rename_session("c1", "My chat")
    s = await repo.get_session("c1")
    assert s is not None and s.name == "My chat"
    await repo.delete_session("c1")
    assert not await repo.rename_session("c1", "again")
    assert not await repo.rename_session("missing", "x")


async def test_soft_delete_hides_the_chat_but_keeps_its_rows(repo: Repository) -> None:
    ids = await chat_with(repo, "c1", ["q", "a"])
    assert await repo.delete_session("c1")
    assert not await repo.delete_session("c1")
    assert await repo.list_chats(1) == []
    assert await repo.history(HistoryQuery("c1", "flow-1", None, 10)) == []
    assert await repo.session_messages("c1") == []
    audit = await repo.history(HistoryQuery("c1", "flow-1", None, 10, include_deleted=True))
    assert [m.id for m in audit] == [ids[1], ids[0]]
    s = await repo.get_session("c1")
    assert s is not None and s.is_delete
    assert await repo.session_owner("c1") == (1, "flow-1")


async def test_copy_duplicates_messages_in_order_with_fresh_feedback(repo: Repository) -> None:
    ids = await chat_with(repo, "src", ["q1", "a1", "q2", "a2"])
    await repo.set_liked(ids[1], 1)
    await repo.mark_copied(ids[1])
    await repo.set_comment(ids[1], "nice")
    await repo.rename_session("src", "named")
    assert await repo.copy_session("src", "dst", 5)
    assert await repo.copy_session("src", "dst", 5)  # a retry copies nothing twice
    copied = await repo.session_messages("dst")
    assert [m.message for m in copied] == ["q1", "a1", "q2", "a2"]
    assert [m.id for m in copied] == sorted(m.id for m in copied)
    assert min(m.id for m in copied) > max(ids)
    assert all((m.liked, m.copied, m.comment, m.user_id) == (0, 0, None, 5) for m in copied)
    s = await repo.get_session("dst")
    assert s is not None
    assert (s.name, s.user_id, s.like, s.copied, s.flow_id) == ("named", 5, 0, 0, "flow-1")
    assert len(await repo.session_messages("src")) == 4
    assert not await repo.copy_session("missing", "dst2", 5)
    await repo.delete_session("src")
    assert not await repo.copy_session("src", "dst3", 5)


async def test_audit_filters_by_owner_app_feedback_and_date(repo: Repository) -> None:
    ids_a = await chat_with(repo, "a", ["q", "x"], user_id=1, flow_id="f1")
    ids_b = await chat_with(repo, "b", ["q", "x"], user_id=2, flow_id="f1")
    await chat_with(repo, "c", ["q"], user_id=2, flow_id="f2")
    await repo.set_liked(ids_a[1], 1)
    await repo.set_liked(ids_b[1], 2)
    await repo.mark_copied(ids_b[1])
    await repo.delete_session("c")

    async def chats(**kwargs: object) -> list[str]:
        page = await repo.audit_sessions(SessionFilter(**kwargs))  # type: ignore[arg-type]
        return sorted(s.chat_id for s in page.items)

    assert await chats() == ["a", "b", "c"]
    assert await chats(user_id=2) == ["b", "c"]
    assert await chats(flow_id="f1") == ["a", "b"]
    assert await chats(feedback="like") == ["a"]
    assert await chats(feedback="dislike") == ["b"]
    assert await chats(feedback="copied") == ["b"]
    assert await chats(include_deleted=False) == ["a", "b"]
    now = utcnow()
    assert await chats(start=now - timedelta(hours=1), end=now + timedelta(hours=1)) == [
        "a",
        "b",
        "c",
    ]
    assert await chats(start=now + timedelta(hours=1)) == []
    assert await chats(end=now - timedelta(hours=1)) == []
    page = await repo.audit_sessions(SessionFilter(), page=2, limit=2)
    assert page.total == 3 and len(page.items) == 1
    liked = (await repo.audit_sessions(SessionFilter(feedback="like"))).items[0]
    assert (liked.like, liked.dislike, liked.copied) == (1, 0, 0)
