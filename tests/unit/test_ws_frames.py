"""Client WebSocket frames at the edge (issue 8, review §5 and §15): text that no database
stores, non-string inputs, deep nesting and huge numbers are a 422, never a crash; the
per-socket frame budget."""

from __future__ import annotations

import json

import pytest

from actors.errors import InvalidInput, RateLimited
from serve_app.ws.frame_rate import FrameRate
from serve_app.ws.protocol import MAX_FRAME_DEPTH, parse_client_frame


@pytest.mark.parametrize(
    "text",
    [
        '{"inputs": {"input": "a\\ud800"}}',  # a lone high surrogate
        '{"inputs": {"input": "\\udc00\\ud83d"}}',  # reversed halves: two lone surrogates
        '{"inputs": {"input": "a\\u0000b"}}',  # NUL (PostgreSQL refuses it)
        '{"inputs": {"in\\u0000put": "key with NUL"}}',
        '{"chat_id": "c\\ud800", "inputs": {"input": "hi"}}',
        '{"inputs": {"input": "hi", "data": {"file": "\\ud800"}}}',  # ignored keys too
        '{"client_msg_id": "\\u0000"}',
    ],
)
def test_unstorable_text_anywhere_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"NUL|surrogate"):
        parse_client_frame(text)


def test_a_valid_surrogate_pair_is_text() -> None:
    frame = parse_client_frame('{"inputs": {"input": "smile \\ud83d\\ude00"}}')
    assert frame.inputs == {"input": "smile \U0001f600"}


@pytest.mark.parametrize("value", [1, 1.5, True, None, ["a"], {"a": "b"}])
def test_inputs_values_must_be_strings(value: object) -> None:
    with pytest.raises(InvalidInput, match=r"inputs\.input must be a string"):
        parse_client_frame(json.dumps({"inputs": {"input": value}}))


def test_ignored_inputs_may_be_objects() -> None:
    frame = parse_client_frame(
        json.dumps({"inputs": {"input": "q", "id": 7, "data": {"id": "a", "type": 5}}})
    )
    assert frame.is_ask


@pytest.mark.parametrize("depth", [MAX_FRAME_DEPTH + 1, 5_000, 200_000])
def test_deep_nesting_is_a_422(depth: int) -> None:
    text = '{"inputs": {"data": ' + "[" * depth + "]" * depth + "}}"
    with pytest.raises(InvalidInput, match="nested"):
        parse_client_frame(text)


def test_numbers_past_the_digit_limit_are_a_422() -> None:
    with pytest.raises(InvalidInput, match="too large"):
        parse_client_frame('{"last_seq": ' + "9" * 5000 + "}")
    with pytest.raises(InvalidInput):
        parse_client_frame('{"action": "resume", "chat_id": "c", "last_seq": ' + "9" * 30 + "}")


def test_json_encoded_json_is_still_accepted() -> None:
    frame = parse_client_frame(json.dumps(json.dumps({"inputs": {"input": "hi"}})))
    assert frame.inputs == {"input": "hi"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_frame_rate_allows_a_burst_then_refuses_with_retry_after() -> None:
    clock = FakeClock()
    rate = FrameRate(5, clock)
    for _ in range(10):  # a burst of twice the rate
        rate.spend()
    with pytest.raises(RateLimited) as refused:
        rate.spend()
    assert refused.value.code == 429
    assert refused.value.data["scope"] == "frames_per_second"
    assert refused.value.data["retry_after"] >= 1
    clock.now += 1.0  # five more tokens
    for _ in range(5):
        rate.spend()
    with pytest.raises(RateLimited):
        rate.spend()


def test_frame_rate_zero_is_off() -> None:
    rate = FrameRate(0, FakeClock())
    for _ in range(10_000):
        rate.spend()
