"""Chats are owned (issue 8, review §4): two users race for one chat id over real Ray + Serve.
Whoever claims the chat first (socket or REST) owns it; the other user's watch, ask, stop,
clear and resume get 403 error frames and never a frame of the owner's turns."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.e2e.api.accounts import Account, register
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def alice(server: Server) -> Iterator[Account]:
    account = register(server, "own-alice")
    yield account
    account.http.close()


@pytest.fixture(scope="module")
def bob(server: Server) -> Iterator[Account]:
    account = register(server, "own-bob")
    yield account
    account.http.close()


@pytest.fixture(scope="module")
def shared_flow(alice: Account) -> str:
    """Alice's public online flow: Bob may chat with it, so only ownership protects chats."""
    flow_id: str = alice.create_flow(public=True)["id"]
    return flow_id


def url(server: Server, account: Account, flow_id: str, chat_id: str) -> str:
    return f"{server.ws_base}/api/v1/chat/chat/{flow_id}?t={account.token}&chat_id={chat_id}"


async def recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return frame


async def until_close(ws: ClientConnection) -> list[dict[str, Any]]:
    frames = [await recv(ws)]
    while frames[-1]["type"] != "close":
        frames.append(await recv(ws))
    return frames


def refusal(frame: dict[str, Any]) -> int:
    assert (frame["type"], frame["category"]) == ("end", "error"), frame
    code: int = frame["message"]["status_code"]
    return code


async def claim_by_socket(ws: ClientConnection) -> None:
    """Wait until the socket's initial watch (the claim) ran: a stop is answered after it."""
    await ws.send(json.dumps({"action": "stop"}))
    assert (await recv(ws))["type"] == "close"


async def every_action_is_refused(ws: ClientConnection, chat_id: str) -> None:
    """The intruder's socket: each action answers 403 and nothing else arrives in between
    (frames on one socket are ordered, so a 403 reply proves no turn frame came before it)."""
    for frame in (
        {"inputs": {"input": "let me in"}},
        {"action": "stop"},
        {"clear_history": True},
        {"action": "resume", "chat_id": chat_id, "last_seq": 0},
        {"chat_id": chat_id, "inputs": {"input": "again"}},
    ):
        await ws.send(json.dumps(frame))
        assert refusal(await recv(ws)) == 403


async def test_a_socket_that_watches_first_owns_the_chat(
    server: Server, alice: Account, bob: Account, shared_flow: str
) -> None:
    chat_id = f"predictable-{uuid.uuid4().hex[:8]}"
    async with websockets.connect(url(server, bob, shared_flow, chat_id)) as bob_ws:
        await claim_by_socket(bob_ws)  # Bob watched the chat id before Alice's first ask
        async with websockets.connect(url(server, alice, shared_flow, chat_id)) as alice_ws:
            assert refusal(await recv(alice_ws)) == 403  # her watch at connect
            await alice_ws.send(json.dumps({"inputs": {"input": "my password is hunter2"}}))
            assert refusal(await recv(alice_ws)) == 403
            await bob_ws.send(json.dumps({"inputs": {"input": "bob asks"}}))
            turn = await until_close(bob_ws)
            assert turn[-2]["message"] == "echo(0): bob asks"
            await every_action_is_refused(alice_ws, chat_id)  # no frame of Bob's turn came
    info = bob.info(chat_id)
    assert info is not None and info["user_id"] == bob.user_id
    questions = [r["message"] for r in bob.data(bob.history(chat_id, shared_flow))]
    assert not any("hunter2" in q for q in questions)


async def test_a_chat_created_over_rest_refuses_another_users_socket(
    server: Server, alice: Account, bob: Account, shared_flow: str
) -> None:
    chat_id = f"rest-first-{uuid.uuid4().hex[:8]}"
    alice.insert(shared_flow, chat_id, "alice's question", "alice's answer")
    async with websockets.connect(url(server, bob, shared_flow, chat_id)) as bob_ws:
        assert refusal(await recv(bob_ws)) == 403  # the watch at connect
        await every_action_is_refused(bob_ws, chat_id)
        async with websockets.connect(url(server, alice, shared_flow, chat_id)) as alice_ws:
            turn = await until_close(await _ask(alice_ws, "second question"))
        assert turn[-2]["message"] == "echo(2): second question"  # her context, her chat
        await bob_ws.send(json.dumps({"action": "stop"}))
        assert refusal(await recv(bob_ws)) == 403  # still nothing of Alice's turn
    assert bob.history(chat_id, shared_flow).status_code == 403
    rows = alice.data(alice.history(chat_id, shared_flow))
    assert {r["user_id"] for r in rows} == {alice.user_id}


async def test_rest_into_a_chat_a_socket_claimed_is_403(
    server: Server, alice: Account, bob: Account, shared_flow: str
) -> None:
    chat_id = f"socket-first-{uuid.uuid4().hex[:8]}"
    async with websockets.connect(url(server, bob, shared_flow, chat_id)) as bob_ws:
        await claim_by_socket(bob_ws)
    body = {"flow_id": shared_flow, "chat_id": chat_id, "human_message": "mine?"}
    response = alice.post("/api/v1/chat/chat/message", body)
    assert response.status_code == 403, response.text
    assert bob.data(bob.history(chat_id, shared_flow)) == []  # nothing was stored


async def test_two_users_claiming_at_once_make_exactly_one_owner(
    server: Server, alice: Account, bob: Account, shared_flow: str
) -> None:
    for _ in range(3):
        chat_id = f"race-{uuid.uuid4().hex[:8]}"
        accounts = (alice, bob)
        sockets = await asyncio.gather(
            *(websockets.connect(url(server, a, shared_flow, chat_id)) for a in accounts)
        )
        try:
            await asyncio.gather(*(ws.send(json.dumps({"action": "stop"})) for ws in sockets))
            answers = await asyncio.gather(*(recv(ws) for ws in sockets))
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))
        owners = [a for a, f in zip(accounts, answers, strict=True) if f["type"] == "close"]
        assert len(owners) == 1, answers
        [loser] = [f for f in answers if f["type"] != "close"]
        assert refusal(loser) == 403
        info = owners[0].info(chat_id)
        assert info is not None and info["user_id"] == owners[0].user_id


async def _ask(ws: ClientConnection, text: str) -> ClientConnection:
    await ws.send(json.dumps({"inputs": {"input": text}}))
    return ws
