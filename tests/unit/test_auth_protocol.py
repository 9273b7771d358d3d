"""Tokens and client frames: bad input gets a clear error."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from actors.errors import InvalidInput, Unauthorized
from serve_app.auth.tokens import Principal, decode_token, issue_token, token_from
from serve_app.ws.protocol import parse_client_frame

SECRET = "s" * 40


def test_token_round_trip() -> None:
    token = issue_token(SECRET, Principal(7, "ann", "admin"))
    assert decode_token(SECRET, token) == Principal(7, "ann", "admin")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        jwt.encode(
            {"sub": json.dumps({"user_id": 1, "user_name": "x"}), "exp": int(time.time()) - 10},
            SECRET,
            algorithm="HS256",
        ),
        jwt.encode(
            {"sub": json.dumps({"user_id": 1, "user_name": "x"}), "exp": int(time.time()) + 60},
            "other-secret-" * 3,
            algorithm="HS256",
        ),
        jwt.encode(
            {"sub": json.dumps({"user_id": 1, "user_name": "x"}), "exp": int(time.time()) + 60},
            "",  # PyJWT's "none" takes "" as no key (its key type has no None)
            algorithm="none",
        ),
        jwt.encode({"sub": "not json", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
        jwt.encode(
            {"sub": json.dumps({"user_id": 1, "user_name": "x"})}, SECRET, algorithm="HS256"
        ),
    ],
    ids=["garbage", "expired", "wrong-secret", "alg-none", "bad-sub", "no-exp"],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(Unauthorized):
        decode_token(SECRET, token)


def test_token_sources_in_order() -> None:
    assert token_from({"authorization": "Bearer h"}, {"access_token_cookie": "c"}, "q") == "h"
    assert token_from({}, {"access_token_cookie": "c"}, "q") == "c"
    assert token_from({}, {}, "q") == "q"
    with pytest.raises(Unauthorized):
        token_from({}, {}, None)


def test_ask_frame_parses_and_double_encoded_json_is_accepted() -> None:
    frame = parse_client_frame(
        json.dumps(json.dumps({"inputs": {"input": "hi", "id": "x"}, "unknown": 1}))
    )
    assert frame.is_ask and frame.inputs == {"input": "hi", "id": "x"}
    assert not parse_client_frame('{"inputs": {"id": "only-id"}}').is_ask


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"inputs": "text"}',
        '{"action": "dance"}',
        '{"chat_id": 5}',
        '{"chat_id": "' + "x" * 65 + '"}',
        '{"last_seq": -1}',
    ],
)
def test_bad_frames_raise_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_client_frame(text)
