"""Group-commit writes: ids, idempotency, client_msg_id, session touch, events."""

from __future__ import annotations

import uuid

from storage.records import (
    FLOW_TYPE_ASSISTANT,
    AuditRecord,
    HistoryQuery,
    TelemetryRecord,
    WriteBatch,
)
from storage.repository import Repository
from tests.contract.conftest import chat_with, message, session


async def test_bulk_write_returns_increasing_ids_in_row_order(repo: Repository) -> None:
    rows = [message("c1", f"m{i}") for i in range(5)] + [message("c2", "other")]
    ids = await repo.bulk_write(WriteBatch(rows, [session("c1"), session("c2")]))
    c1_ids = [ids[r.row_key] for r in rows[:5]]
    assert c1_ids == sorted(c1_ids) and len(set(ids.values())) == 6
    page = await repo.history(HistoryQuery("c1", "flow-1", None, 10))
    assert [m.message for m in page] == ["m4", "m3", "m2", "m1", "m0"]
    assert [m.id for m in page] == sorted(c1_ids, reverse=True)


async def test_retried_rows_are_not_duplicated_and_keep_their_ids(repo: Repository) -> None:
    rows = [message("c1", f"m{i}") for i in range(3)]
    first = await repo.bulk_write(WriteBatch(rows, [session("c1")]))
    again = await repo.bulk_write(WriteBatch([*rows, message("c1", "new")], [session("c1")]))
    assert {k: again[k] for k in first} == first
    texts = [m.message for m in await repo.history(HistoryQuery("c1", "flow-1", None, 10))]
    assert texts == ["new", "m2", "m1", "m0"]


async def test_repeated_client_msg_id_maps_to_the_stored_question(repo: Repository) -> None:
    original = message("c1", "ask once", client_msg_id="cm-1")
    ids = await repo.bulk_write(WriteBatch([original], [session("c1")]))
    retry = message("c1", "ask once", client_msg_id="cm-1")  # new row key, same client id
    other_chat = message("c2", "same id elsewhere", client_msg_id="cm-1")
    again = await repo.bulk_write(WriteBatch([retry, other_chat], [session("c2")]))
    assert again[retry.row_key] == ids[original.row_key]
    assert again[other_chat.row_key] != ids[original.row_key]
    assert len(await repo.history(HistoryQuery("c1", "flow-1", None, 10))) == 1
    assert await repo.find_client_message("c1", "cm-1") == ids[original.row_key]
    assert await repo.find_client_message("c1", "cm-2") is None


async def test_session_row_is_created_once_with_defaults(repo: Repository) -> None:
    await repo.bulk_write(
        WriteBatch([message("c1")], [session("c1", user_id=7, flow_type=FLOW_TYPE_ASSISTANT)])
    )
    await repo.bulk_write(
        WriteBatch([message("c1")], [session("c1", user_id=8)])
    )  # ignored: exists
    row = await repo.get_session("c1")
    assert row is not None
    assert (row.user_id, row.flow_type, row.is_delete) == (7, 5, False)
    assert (row.like, row.dislike, row.copied, row.name) == (0, 0, 0, "")
    assert await repo.session_owner("c1") == (7, "flow-1")
    assert await repo.session_owner("nope") is None


async def test_new_message_moves_its_chat_to_the_top_of_the_list(repo: Repository) -> None:
    await chat_with(repo, "old", ["a"])
    await chat_with(repo, "new", ["b"])
    assert [c.session.chat_id for c in await repo.list_chats(1)] == ["new", "old"]
    await repo.bulk_write(WriteBatch([message("old", "again")], []))
    chats = await repo.list_chats(1)
    assert [c.session.chat_id for c in chats] == ["old", "new"]
    assert chats[0].latest_message is not None and chats[0].latest_message.message == "again"


async def test_telemetry_and_audit_inserts_are_idempotent(repo: Repository) -> None:
    event = TelemetryRecord(
        event_key=uuid.uuid4().hex,
        event_type="message_feedback",
        user_id=3,
        payload={"operation_type": "like"},
        message_id=42,
    )
    entry = AuditRecord(uuid.uuid4().hex, 3, "delete_session", "chat", "c1", {"why": "test"})
    for _ in range(2):
        await repo.bulk_write(WriteBatch([], [], [event], [entry]))
    events = await repo.list_telemetry("message_feedback")
    assert [(e.event_key, e.message_id, e.payload) for e in events] == [
        (event.event_key, 42, {"operation_type": "like"})
    ]
    entries = await repo.list_audit_log(3)
    assert [(a.action, a.object_id, a.detail) for a in entries] == [
        ("delete_session", "c1", {"why": "test"})
    ]
    assert await repo.list_telemetry("other") == []


async def test_new_message_with_its_session_record_moves_its_chat(repo: Repository) -> None:
    await chat_with(repo, "old", ["a"])
    await chat_with(repo, "new", ["b"])
    await repo.bulk_write(
        WriteBatch([message("old", "again")], [session("old", user_id=9)])
    )  # upsert
    assert [c.session.chat_id for c in await repo.list_chats(1)] == ["old", "new"]
    row = await repo.get_session("old")
    assert row is not None and row.user_id == 1  # only update_time changed


async def test_session_record_without_a_message_does_not_move_its_chat(repo: Repository) -> None:
    await chat_with(repo, "old", ["a"])
    await chat_with(repo, "new", ["b"])
    await repo.bulk_write(WriteBatch([message("new", "c")], [session("old"), session("new")]))
    assert [c.session.chat_id for c in await repo.list_chats(1)] == ["new", "old"]
    await repo.bulk_write(WriteBatch([], [session("old")]))
    assert [c.session.chat_id for c in await repo.list_chats(1)] == ["new", "old"]


async def test_large_batch_keeps_row_order_and_retries_map_to_stored_ids(
    repo: Repository,
) -> None:
    rows = [message(f"c{i % 7}", f"m{i}", client_msg_id=f"cm{i}") for i in range(2_500)]
    ids = await repo.bulk_write(WriteBatch(rows, [session(f"c{i}") for i in range(7)]))
    ordered = [ids[r.row_key] for r in rows]
    assert ordered == sorted(ordered) and len(set(ordered)) == len(rows)
    asks = [message(r.chat_id, "again", client_msg_id=r.client_msg_id) for r in rows[::100]]
    again = await repo.bulk_write(WriteBatch([*rows[:1_200], *asks], []))
    assert [again[r.row_key] for r in rows[:1_200]] == ordered[:1_200]
    assert [again[a.row_key] for a in asks] == ordered[::100]
