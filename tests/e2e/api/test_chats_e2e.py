"""Sessions and messages over REST (API.md §3, §5) on the real server: each endpoint as the
owner, as another user (403/404/[], and nothing changes), with bad input (422), and as admin."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.api.accounts import Account, chat_turn
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


@dataclass
class Chat:
    flow_id: str
    chat_id: str
    question: dict[str, Any]
    answer: dict[str, Any]


@pytest.fixture
def chat(alice: Account) -> Chat:
    """A fresh online flow of alice's and a chat with one question/answer pair."""
    flow = alice.create_flow()
    chat_id = uuid.uuid4().hex
    question, answer = alice.insert(flow["id"], chat_id, "What is 2+2?", "4")
    return Chat(flow["id"], chat_id, question, answer)


def snapshot(alice: Account, chat: Chat) -> tuple[Any, ...]:
    """Everything another user's calls must leave unchanged."""
    rows = alice.data(alice.history(chat.chat_id, chat.flow_id))
    return alice.info(chat.chat_id), rows


def test_inserted_rows_and_created_session(alice: Account, chat: Chat) -> None:
    assert (chat.question["type"], chat.question["category"], chat.question["is_bot"]) == (
        "human",
        "question",
        False,
    )
    assert (chat.answer["type"], chat.answer["category"], chat.answer["is_bot"]) == (
        "bot",
        "answer",
        True,
    )
    assert chat.answer["id"] > chat.question["id"]
    info = alice.info(chat.chat_id)
    assert info is not None
    assert (info["flow_id"], info["flow_type"], info["user_id"], info["is_delete"]) == (
        chat.flow_id,
        1,
        alice.user_id,
        False,
    )
    more = alice.insert(chat.flow_id, chat.chat_id, "and 3+3?", "6")
    assert [r["chat_id"] for r in more] == [chat.chat_id] * 2


def test_message_insert_checks(alice: Account, bob: Account, chat: Chat) -> None:
    before = snapshot(alice, chat)
    body = {"flow_id": chat.flow_id, "chat_id": chat.chat_id, "human_message": "bob was here"}
    assert bob.post("/api/v1/chat/chat/message", body).status_code == 403  # alice's chat
    own_chat = {**body, "chat_id": uuid.uuid4().hex}
    assert bob.post("/api/v1/chat/chat/message", own_chat).status_code == 403  # private flow
    assert snapshot(alice, chat) == before
    other_flow = alice.create_flow()
    moved = {**body, "flow_id": other_flow["id"]}
    assert alice.post("/api/v1/chat/chat/message", moved).status_code == 409
    missing = {**body, "flow_id": uuid.uuid4().hex}
    assert alice.post("/api/v1/chat/chat/message", missing).status_code == 404
    for bad in (
        {"flow_id": chat.flow_id, "chat_id": chat.chat_id},
        {"flow_id": chat.flow_id, "chat_id": "x" * 65, "human_message": "q"},
        {"flow_id": chat.flow_id, "human_message": "q"},
    ):
        response = alice.post("/api/v1/chat/chat/message", bad)
        assert response.status_code == 422 and response.json()["data"]


def test_chat_list(alice: Account, bob: Account, chat: Chat) -> None:
    items = alice.data(alice.get("/api/v1/chat/chat/list", limit=100))
    mine = next(i for i in items if i["chat_id"] == chat.chat_id)
    assert mine["latest_message"]["id"] == chat.answer["id"]
    assert set(mine) == {
        "chat_id", "flow_id", "flow_name", "flow_description", "flow_type", "name", "logo",
        "create_time", "update_time", "latest_message",
    }  # fmt: skip
    times = [i["update_time"] for i in items]
    assert times == sorted(times, reverse=True)
    assert chat.chat_id in [
        i["chat_id"] for i in alice.data(alice.get("/api/v1/chat/chat/list", flow_type=1))
    ]
    assert alice.data(alice.http.get("/api/v1/chat/chat/list?flow_type=5&limit=100")) == [
        i for i in items if i["flow_type"] == 5
    ]
    assert chat.chat_id not in [
        i["chat_id"] for i in bob.data(bob.get("/api/v1/chat/chat/list", limit=100))
    ]
    for bad in ("page=0", "page=1001", "limit=0", "limit=101", "flow_type=x", "page=1.5"):
        response = alice.http.get(f"/api/v1/chat/chat/list?{bad}")
        assert response.status_code == 422, bad
        assert response.json()["data"]["errors"][0]["loc"][0] == "query"


async def test_history_cursor_and_isolation(
    server: Server, alice: Account, bob: Account, admin: Account
) -> None:
    flow = alice.create_flow()
    chat_id = uuid.uuid4().hex
    await chat_turn(server, alice, flow["id"], chat_id, "one")
    await chat_turn(server, alice, flow["id"], chat_id, "two")
    rows = alice.data(alice.history(chat_id, flow["id"]))
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids, reverse=True) and len(rows) == 4
    assert rows[0]["user_name"] == alice.user_name and rows[0]["flow_name"] == flow["name"]
    page = alice.data(alice.history(chat_id, flow["id"], id=ids[1], page_size=2))
    assert [r["id"] for r in page] == ids[2:4]
    assert alice.data(alice.history(chat_id, uuid.uuid4().hex)) == []
    assert alice.data(alice.history(uuid.uuid4().hex, flow["id"])) == []
    assert bob.history(chat_id, flow["id"]).status_code == 403
    assert admin.data(admin.history(chat_id, flow["id"])) == rows
    for bad in ({"page_size": 0}, {"page_size": 101}, {"id": 0}, {"id": "x"}):
        assert alice.history(chat_id, flow["id"], **bad).status_code == 422
    assert alice.get("/api/v1/chat/chat/history", chat_id=chat_id).status_code == 422


def test_info(alice: Account, bob: Account, admin: Account, chat: Chat) -> None:
    info = alice.info(chat.chat_id)
    assert info is not None and info["like"] == info["dislike"] == info["copied"] == 0
    assert bob.get("/api/v1/chat/chat/info", chat_id=chat.chat_id).status_code == 403
    assert admin.info(chat.chat_id) == info
    assert alice.info(uuid.uuid4().hex) is None
    assert alice.get("/api/v1/chat/chat/info").status_code == 422


def test_online_apps(alice: Account, bob: Account, server: Server) -> None:
    flow = alice.create_flow()
    offline = alice.create_flow(online=False)
    mine = alice.data(alice.get("/api/v1/chat/chat/online", keyword=flow["name"]))
    assert [(a["id"], a["flow_type"]) for a in mine] == [(flow["id"], 1)]
    assert set(mine[0]) == {"id", "name", "description", "logo", "flow_type", "update_time"}
    assert alice.data(alice.get("/api/v1/chat/chat/online", keyword=offline["name"])) == []
    assert bob.data(bob.get("/api/v1/chat/chat/online", keyword=flow["name"])) == []
    every = bob.data(bob.get("/api/v1/chat/chat/online", limit=100))
    assert server.flow_id in [a["id"] for a in every]  # the public demo flow
    assert alice.http.get("/api/v1/chat/chat/online?limit=500").status_code == 422


def test_update_and_delete_message(alice: Account, bob: Account, chat: Chat) -> None:
    path = f"/api/v1/chat/chat/message/{chat.answer['id']}"
    before = snapshot(alice, chat)
    assert bob.put(path, {"message": "hacked"}).status_code == 403
    assert bob.delete(path).status_code == 403
    assert snapshot(alice, chat) == before
    assert alice.put(path, {"message": "four", "category": "answer"}).json()["data"] is None
    rows = alice.data(alice.history(chat.chat_id, chat.flow_id))
    assert rows[0]["message"] == "four"
    assert alice.put(path, {"message": "x", "category": "Bad Category"}).status_code == 422
    assert alice.put(path, {}).status_code == 422
    assert alice.data(alice.delete(path)) is None
    assert alice.delete(path).status_code == 404
    assert alice.put(path, {"message": "again"}).status_code == 404
    assert [r["id"] for r in alice.data(alice.history(chat.chat_id, chat.flow_id))] == [
        chat.question["id"]
    ]
    assert alice.http.delete("/api/v1/chat/chat/message/abc").status_code == 422


def test_like_moves_session_counters(alice: Account, bob: Account, chat: Chat) -> None:
    def liked(value: int, who: Account = alice) -> int:
        body = {"message_id": chat.answer["id"], "liked": value}
        return who.post("/api/v1/chat/liked", body).status_code

    def counters() -> tuple[int, int]:
        info = alice.info(chat.chat_id)
        assert info is not None
        return info["like"], info["dislike"]

    steps = [(1, (1, 0)), (1, (1, 0)), (2, (0, 1)), (0, (0, 0)), (2, (0, 1)), (1, (1, 0))]
    for value, expected in steps:
        assert liked(value) == 200
        assert counters() == expected, value
    before = snapshot(alice, chat)
    assert liked(0, bob) == 403
    assert snapshot(alice, chat) == before
    assert alice.post("/api/v1/chat/liked", {"message_id": 10**9, "liked": 1}).status_code == 404
    for bad in ({"message_id": chat.answer["id"], "liked": 3}, {"liked": 1}):
        assert alice.post("/api/v1/chat/liked", bad).status_code == 422


def test_first_copy_counts_once(alice: Account, bob: Account, chat: Chat) -> None:
    body = {"message_id": chat.answer["id"]}
    assert bob.post("/api/v1/chat/copied", body).status_code == 403
    for _ in range(2):
        assert alice.data(alice.post("/api/v1/chat/copied", body)) is None
    info = alice.info(chat.chat_id)
    assert info is not None and info["copied"] == 1
    assert alice.data(alice.history(chat.chat_id, chat.flow_id))[0]["copied"] == 1
    assert alice.post("/api/v1/chat/copied", {"message_id": 10**9}).status_code == 404


def test_comment(alice: Account, bob: Account, chat: Chat) -> None:
    body = {"message_id": chat.answer["id"], "comment": "x" * 4096}
    assert bob.post("/api/v1/chat/comment", body).status_code == 403
    assert alice.data(alice.post("/api/v1/chat/comment", body)) is None
    row = alice.data(alice.history(chat.chat_id, chat.flow_id))[0]
    assert row["comment"] == "x" * 4096 and row["remark"] is None
    too_long = alice.post("/api/v1/chat/comment", {**body, "comment": "y" * 4097})
    assert too_long.status_code in (413, 422) and too_long.json()["data"]
    assert alice.data(alice.history(chat.chat_id, chat.flow_id))[0]["comment"] == "x" * 4096
    missing = {"message_id": 10**9, "comment": "c"}
    assert alice.post("/api/v1/chat/comment", missing).status_code == 404


def test_rename(alice: Account, bob: Account, chat: Chat) -> None:
    body = {"conversationId": chat.chat_id, "name": "Arithmetic"}
    assert bob.post("/api/v1/chat/chat/conversation/rename", body).status_code == 403
    info = alice.info(chat.chat_id)
    assert info is not None and info["name"] == ""
    assert alice.data(alice.post("/api/v1/chat/chat/conversation/rename", body)) is None
    info = alice.info(chat.chat_id)
    assert info is not None and info["name"] == "Arithmetic"
    missing = {"conversationId": uuid.uuid4().hex, "name": "n"}
    assert alice.post("/api/v1/chat/chat/conversation/rename", missing).status_code == 404
    too_long = {"conversationId": chat.chat_id, "name": "n" * 256}
    assert alice.post("/api/v1/chat/chat/conversation/rename", too_long).status_code == 422


def test_copy(alice: Account, bob: Account, chat: Chat) -> None:
    alice.insert(chat.flow_id, chat.chat_id, "second", "answer two")
    body = {"conversationId": chat.chat_id}
    bob_before = bob.data(bob.get("/api/v1/chat/chat/list", limit=100))
    assert bob.post("/api/v1/chat/chat/conversation/copy", body).status_code == 403
    assert bob.data(bob.get("/api/v1/chat/chat/list", limit=100)) == bob_before
    new_id = alice.data(alice.post("/api/v1/chat/chat/conversation/copy", body))["chat_id"]
    assert new_id != chat.chat_id
    old = alice.data(alice.history(chat.chat_id, chat.flow_id))
    new = alice.data(alice.history(new_id, chat.flow_id))
    assert [r["message"] for r in new] == [r["message"] for r in old]
    assert [r["id"] for r in new] == sorted((r["id"] for r in new), reverse=True)
    assert {r["chat_id"] for r in new} == {new_id}
    missing = {"conversationId": uuid.uuid4().hex}
    assert alice.post("/api/v1/chat/chat/conversation/copy", missing).status_code == 404


def test_delete_chat(alice: Account, bob: Account, admin: Account, chat: Chat) -> None:
    before = snapshot(alice, chat)
    assert bob.delete(f"/api/v1/chat/{chat.chat_id}").status_code == 403
    assert snapshot(alice, chat) == before
    assert alice.data(alice.delete(f"/api/v1/chat/{chat.chat_id}")) is None
    assert alice.info(chat.chat_id) is None
    assert alice.data(alice.history(chat.chat_id, chat.flow_id)) == []
    listed = alice.data(alice.get("/api/v1/chat/chat/list", limit=100))
    assert chat.chat_id not in [c["chat_id"] for c in listed]
    assert alice.delete(f"/api/v1/chat/{chat.chat_id}").status_code == 404
    like = {"message_id": chat.answer["id"], "liked": 1}
    assert alice.post("/api/v1/chat/liked", like).status_code == 404
    audit = admin.data(
        admin.get("/api/v1/session/chat/history", chat_id=chat.chat_id, flow_id=chat.flow_id)
    )
    assert [r["id"] for r in audit] == [chat.answer["id"], chat.question["id"]]  # rows stay
    mine = alice.get("/api/v1/session/chat/history", chat_id=chat.chat_id, flow_id=chat.flow_id)
    assert alice.data(mine) == []
    assert alice.delete(f"/api/v1/chat/{uuid.uuid4().hex}").status_code == 404
    assert alice.http.delete(f"/api/v1/chat/{'x' * 65}").status_code == 422


def test_session_history_for_audit(
    alice: Account, bob: Account, admin: Account, chat: Chat
) -> None:
    params = {"chat_id": chat.chat_id, "flow_id": chat.flow_id}
    rows = alice.data(alice.get("/api/v1/session/chat/history", **params))
    assert rows == alice.data(alice.history(chat.chat_id, chat.flow_id))
    assert bob.get("/api/v1/session/chat/history", **params).status_code == 403
    assert admin.data(admin.get("/api/v1/session/chat/history", **params)) == rows
    page = {**params, "page_size": 1000}
    assert alice.get("/api/v1/session/chat/history", **page).status_code == 422


def test_session_messages(alice: Account, bob: Account, admin: Account, chat: Chat) -> None:
    path = f"/api/v1/session/chat/messages/{chat.chat_id}"
    rows = alice.data(alice.get(path))
    assert [r["id"] for r in rows] == [chat.question["id"], chat.answer["id"]]  # oldest first
    assert bob.get(path).status_code == 403
    assert admin.data(admin.get(path)) == rows
    assert alice.get(f"/api/v1/session/chat/messages/{uuid.uuid4().hex}").status_code == 404


def test_feedback_telemetry(alice: Account, bob: Account, admin: Account, chat: Chat) -> None:
    body = {"message_id": chat.answer["id"], "operation_type": "dislike"}
    assert bob.post("/api/v1/session/chat/message/telemetry", body).status_code == 403
    assert alice.data(alice.post("/api/v1/session/chat/message/telemetry", body)) is None
    events = admin.data(
        admin.get("/api/v1/audit/telemetry", event_type="message_feedback", limit=1000)
    )
    mine = [e for e in events if e["message_id"] == chat.answer["id"]]
    assert [(e["user_id"], e["payload"]["operation_type"]) for e in mine] == [
        (alice.user_id, "dislike")
    ]
    missing = {"message_id": 10**9, "operation_type": "like"}
    assert alice.post("/api/v1/session/chat/message/telemetry", missing).status_code == 404
    bad = {"message_id": chat.answer["id"], "operation_type": "love"}
    assert alice.post("/api/v1/session/chat/message/telemetry", bad).status_code == 422


def test_audit_sessions_filters(alice: Account, admin: Account, chat: Chat) -> None:
    alice.post("/api/v1/chat/liked", {"message_id": chat.answer["id"], "liked": 1})
    liked = admin.data(
        admin.get("/api/v1/audit/session", user_id=alice.user_id, feedback="like", limit=100)
    )
    rows = {s["chat_id"]: s for s in liked["list"]}
    assert chat.chat_id in rows and rows[chat.chat_id]["like"] == 1
    assert all(s["user_id"] == alice.user_id and s["like"] > 0 for s in liked["list"])
    assert liked["total"] >= len(liked["list"])
    by_flow = admin.data(admin.get("/api/v1/audit/session", flow_id=chat.flow_id))
    assert [s["chat_id"] for s in by_flow["list"]] == [chat.chat_id]
    created = rows[chat.chat_id]["create_time"][:10]
    today = admin.data(
        admin.get(
            "/api/v1/audit/session", flow_id=chat.flow_id, start_date=created, end_date=created
        )
    )
    assert today["total"] == 1
    later = admin.data(
        admin.get("/api/v1/audit/session", flow_id=chat.flow_id, start_date="2999-01-01")
    )
    assert later == {"list": [], "data": [], "total": 0}  # `data`: Bisheng's platform reads it
    for bad in (
        {"feedback": "love"},
        {"start_date": "yesterday"},
        {"start_date": "2026-02-02", "end_date": "2026-02-01"},
        {"limit": 0},
        {"user_id": "me"},
    ):
        response = admin.get("/api/v1/audit/session", **bad)
        assert response.status_code == 422, bad


def test_stats(alice: Account, bob: Account, admin: Account, chat: Chat) -> None:
    alice.post("/api/v1/chat/copied", {"message_id": chat.answer["id"]})
    mine = alice.data(alice.get("/api/v1/chat/stats", flow_id=chat.flow_id))
    assert (mine["sessions"], mine["messages"], mine["users"], mine["copied"]) == (1, 2, 1, 1)
    (day,) = mine["by_day"]
    assert set(day) == {"date", "sessions", "messages", "like", "dislike", "copied"}
    assert (day["sessions"], day["messages"]) == (1, 2)
    theirs = bob.data(bob.get("/api/v1/chat/stats", flow_id=chat.flow_id))
    assert (theirs["sessions"], theirs["messages"], theirs["by_day"]) == (0, 0, [])
    everything = admin.data(admin.get("/api/v1/chat/stats"))
    assert everything["sessions"] >= alice.data(alice.get("/api/v1/chat/stats"))["sessions"] >= 1
    empty = alice.data(alice.get("/api/v1/chat/stats", start_date="2999-01-01"))
    assert empty["sessions"] == 0
    bad = alice.get("/api/v1/chat/stats", start_date="2026-13-45")
    assert bad.status_code == 422


def test_audit_log_records_changes(alice: Account, admin: Account, chat: Chat) -> None:
    body = {"conversationId": chat.chat_id, "name": "logged"}
    alice.post("/api/v1/chat/chat/conversation/rename", body)
    entries = admin.data(admin.get("/api/v1/audit/log", user_id=alice.user_id, limit=1000))
    actions = {(e["action"], e["object_id"]) for e in entries}
    assert ("session.rename", chat.chat_id) in actions
    assert ("session.create", chat.chat_id) in actions
    assert ("flow.create", chat.flow_id) in actions
