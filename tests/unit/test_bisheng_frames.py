"""Client frames as Bisheng's frontends send them (API.md §4.5): select-chat frames are not
asks, `chat_id: ""` is no chat, `chatHistory`/`name`/`description`/`inputs.data` are ignored;
question rows hold the inputs' JSON."""

from __future__ import annotations

import json
from typing import Any

from actors.sessions.turns.recording import question_message
from serve_app.ws.protocol import parse_client_frame

SELECT: dict[str, Any] = {
    "chatHistory": [{"message": "old", "isSend": True}] * 50,
    "flow_id": "a" * 32,
    "chat_id": "c1",
    "name": "Helper",
    "description": None,
    "inputs": {"data": {"id": "a" * 32, "chatId": "c1", "type": 5}},
}


def test_a_select_chat_frame_is_no_ask() -> None:
    for inputs in (SELECT["inputs"], {}, {"id": "node"}):
        frame = parse_client_frame(json.dumps({**SELECT, "inputs": inputs}))
        assert not frame.is_ask and frame.is_select and frame.chat_id == "c1"


def test_an_ask_with_data_and_history_is_an_ask() -> None:
    inputs = {**SELECT["inputs"], "input": "hi"}
    frame = parse_client_frame(json.dumps({**SELECT, "inputs": inputs}))
    assert frame.is_ask and not frame.is_select


def test_an_empty_chat_id_is_no_chat() -> None:
    frame = parse_client_frame(json.dumps({"chat_id": "", "inputs": {"input": "preview"}}))
    assert frame.chat_id is None and frame.is_ask


def test_stop_and_clear_are_not_select_frames() -> None:
    assert not parse_client_frame('{"action": "stop"}').is_select
    assert not parse_client_frame('{"clear_history": true}').is_select


def test_question_rows_hold_the_inputs_json_without_id() -> None:
    text = question_message({"question": "Who wrote it?", "id": "node-1"})
    assert json.loads(text) == {"question": "Who wrote it?"}
    assert question_message({"input": "中文"}) == '{"input": "中文"}'  # readable as stored
