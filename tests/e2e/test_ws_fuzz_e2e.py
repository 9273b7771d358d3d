"""WebSocket fuzz (issue 8, review §15): thousands of seeded random client frames over one
socket of a real server: wrong types, deep nesting, huge numbers, binary frames, bad UTF-16
escapes, NUL, unknown keys, chat switches. No frame may close the socket with 1011 (only an
oversized frame closes it, with 1009) and the socket still answers a normal ask afterwards.

The suite's server runs with the frame rate limit off (tests/e2e/conftest.py), so every frame
reaches the parser: each fuzz frame is followed by a probe frame whose 422 reply is
recognizable, and every probe must be answered (a throttled frame would get a 429 instead)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from actors.errors import Conflict, FlowDeleted, FlowOffline, Forbidden, InvalidInput, NotFound
from tests.e2e.api.accounts import Account, register
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e
SEED = 20_261_202
FRAMES = 5_000
WINDOW = 100
PROBE = json.dumps({"last_seq": "probe"})
# What a client may legitimately be told about its own bad frames; 429 would mean throttling,
# 5xx/13004 an internal failure.
EXPECTED_CODES = {
    error.code for error in (Forbidden, NotFound, Conflict, InvalidInput, FlowDeleted, FlowOffline)
}
CHATS = [f"fuzz-{i}" for i in range(4)]


@pytest.fixture(scope="module")
def fuzzer(server: Server) -> Iterator[Account]:
    account = register(server, "fuzzer")
    yield account
    account.http.close()


def _nested(rng: random.Random) -> str:
    depth = rng.choice([33, 64, 999, 1_000, 5_000, 100_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    core = opener * depth + "1" + closer * depth
    return rng.choice([core, '{"inputs": {"data": ' + core + "}}", '{"chatHistory": ' + core + "}"])


def _huge_number(rng: random.Random) -> str:
    digits = "9" * rng.choice([19, 20, 400, 4_300, 4_301, 20_000])
    field = rng.choice(["last_seq", "chat_id", "flow_id", "clear_history", "inputs"])
    number = rng.choice(
        [digits, "-" + digits, "1e999999", "-1e999999", "NaN", "Infinity", "0." + digits]
    )
    return '{"' + field + '": ' + number + "}"


def _bad_text(rng: random.Random) -> str:
    escape = rng.choice(
        ["\\ud800", "\\udfff", "\\udc00\\ud800", "\\ud83d", "\\u0000", "\\uZZZZ", "\\u12", "\\x41"]
    )
    field = rng.choice(
        [
            '"inputs": {"input": "%s"}',
            '"chat_id": "c%s"',
            '"client_msg_id": "%s"',
            '"inputs": {"k%s": "v"}',
            '"flow_id": "%s"',
            '"action": "%s"',
        ]
    )
    return "{" + field % escape + "}"


def _wrong_types(rng: random.Random) -> str:
    values: list[Any] = [
        1,
        -1,
        2.5,
        True,
        False,
        None,
        [],
        {},
        [1, "a"],
        {"x": [None]},
        "",
        "x" * 100,
    ]
    key = rng.choice(
        ["inputs", "chat_id", "flow_id", "action", "clear_history", "last_seq", "client_msg_id"]
    )
    frame: dict[str, Any] = {key: rng.choice(values)}
    if key == "inputs":
        frame[key] = {"input": rng.choice([v for v in values if not isinstance(v, str)])}
    if key == "last_seq" and isinstance(frame[key], str):
        frame[key] = -5  # strings there are reserved for the probe
    return json.dumps(frame)


def _unknown_keys(rng: random.Random) -> str:
    return json.dumps({f"k{rng.randrange(1000)}": rng.choice([1, "v", [], {}, None]), "inputs": {}})


def _garbage(rng: random.Random) -> str:
    alphabet = '{}[]":,0123456789abcdeftrunl \\\n\t\x00\u00e9\u4e2d'
    text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 200)))
    return rng.choice(
        [text, '{"inputs": {"input": "x"', '"\\"nested\\""', json.dumps(json.dumps([1]))]
    )


def _switch(rng: random.Random) -> str:
    frame: dict[str, Any] = {"chat_id": rng.choice(CHATS)}
    extra = rng.choice(["none", "stop", "resume", "flow"])
    if extra == "stop":
        frame["action"] = "stop"
    elif extra == "resume":
        frame.update(action="resume", last_seq=rng.choice([0, 1, 2**40, 2**63 - 1]))
    elif extra == "flow":
        frame["flow_id"] = rng.choice(["0" * 32, "not-a-flow", "f" * 64])
    return json.dumps(frame)


def fuzz_frames(rng: random.Random, count: int) -> Iterator[str | bytes]:
    makers = [_nested, _huge_number, _bad_text, _wrong_types, _unknown_keys, _garbage]
    for _ in range(count):
        roll = rng.random()
        if roll < 0.08:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        elif roll < 0.11:
            yield _switch(rng)
        else:
            yield rng.choice(makers)(rng)


def is_probe_reply(frame: dict[str, Any]) -> bool:
    if frame["category"] != "error":
        return False
    errors = (frame["message"].get("data") or {}).get("errors") or []
    return any(e["loc"] == ["last_seq"] and e["type"] == "int_parsing" for e in errors)


async def read_window(ws: ClientConnection, probes: int, codes: list[int]) -> None:
    """Read until `probes` probe replies arrived, collecting every error code seen."""
    while probes:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame["category"] == "error":
            codes.append(frame["message"]["status_code"])
        probes -= is_probe_reply(frame)


async def test_thousands_of_random_frames_never_break_the_socket(
    server: Server, fuzzer: Account
) -> None:
    flow_id = fuzzer.create_flow()["id"]
    url = f"{server.ws_base}/api/v1/chat/chat/{flow_id}?t={fuzzer.token}"
    rng = random.Random(SEED)
    frames = list(fuzz_frames(rng, FRAMES))
    codes: list[int] = []
    async with websockets.connect(url, max_size=None) as ws:
        for start in range(0, len(frames), WINDOW):
            window = frames[start : start + WINDOW]
            for frame in window:
                await ws.send(frame)
                await ws.send(PROBE)
            await read_window(ws, len(window), codes)  # a close here fails the test
        assert set(codes) <= EXPECTED_CODES, sorted(set(codes))
        assert 429 not in codes  # the parser saw every frame
        assert codes.count(422) > FRAMES // 2  # and refused the bad ones with a 422 frame
        await ws.send(json.dumps({"chat_id": "fuzz-after", "inputs": {"input": "still alive"}}))
        turn = [json.loads(await asyncio.wait_for(ws.recv(), 30))]
        while turn[-1]["type"] != "close":
            turn.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    answers = [f for f in turn if (f["type"], f["category"]) == ("end", "answer")]
    assert answers and answers[0]["message"] == "echo(0): still alive"


async def test_an_oversized_frame_closes_1009_and_a_fresh_socket_works(
    server: Server, fuzzer: Account
) -> None:
    flow_id = fuzzer.create_flow()["id"]
    url = f"{server.ws_base}/api/v1/chat/chat/{flow_id}?t={fuzzer.token}"
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send('{"inputs": {"data": "' + "x" * (1 << 20) + '"}}')
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"chat_id": "after-1009", "inputs": {"input": "hello"}}))
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 30))]
        while frames[-1]["type"] != "close":
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    assert frames[-2]["message"] == "echo(0): hello"
