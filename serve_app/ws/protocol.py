"""Client -> server WebSocket frames (API.md §4), validated with pydantic."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from actors.errors import InvalidInput
from serve_app.schemas.text import ID_MAX

# Deeper JSON than this is refused before validation (no client needs it; Python's parser and
# validators recurse, so a deep frame must end in a 422, never in a RecursionError).
MAX_FRAME_DEPTH = 32
MAX_SEQ = 2**63 - 1
# `inputs` keys that clients send as objects and the server ignores (API.md §4.5).
IGNORED_INPUTS = frozenset({"id", "data"})


class ClientFrame(BaseModel):
    """Any client frame: an ask, a stop, a resume or a clear. Unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    flow_id: str | None = Field(default=None, max_length=ID_MAX)
    chat_id: str | None = Field(default=None, min_length=1, max_length=ID_MAX)
    inputs: dict[str, Any] | None = None
    client_msg_id: str | None = Field(default=None, min_length=1, max_length=ID_MAX)
    action: Literal["stop", "resume"] | None = None
    clear_history: bool = False
    last_seq: int | None = Field(default=None, ge=0, le=MAX_SEQ)

    @field_validator("chat_id", mode="before")
    @classmethod
    def _empty_chat_is_none(cls, value: Any) -> Any:
        """`chat_id: ""` means no chat (a preview), as Bisheng's editor test chat sends it."""
        return None if value == "" else value

    @property
    def is_ask(self) -> bool:
        """An ask carries inputs beyond Bisheng's ignored `id` and `data`; a frame without
        them (Bisheng's select-chat frame) only selects the chat (API.md §4.5)."""
        return self.action is None and bool(set(self.inputs or {}) - IGNORED_INPUTS)

    @property
    def is_select(self) -> bool:
        """A frame that names nothing to do: no action, no clear, no question."""
        return self.action is None and not self.clear_history and not self.is_ask


def parse_client_frame(text: str) -> ClientFrame:
    """Parse one text frame; JSON-encoded JSON strings are accepted (Bisheng clients send them).

    InvalidInput (422) for anything else: not JSON, too deep, numbers past Python's digit
    limit, NUL or lone surrogates in any string, non-string `inputs` values, wrong types."""
    value = _json_of(text)
    if not isinstance(value, dict):
        raise InvalidInput("Frame must be a JSON object")
    check_frame_text(value)
    try:
        frame = ClientFrame.model_validate(value)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise InvalidInput("Invalid frame", errors=errors) from None
    check_inputs(frame.inputs)
    return frame


def _json_of(text: str) -> Any:
    try:
        value: Any = json.loads(text)
        if isinstance(value, str):
            value = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidInput("Frame is not valid JSON", error=str(exc)) from None
    except (RecursionError, ValueError):  # deep nesting; an integer over 4300 digits
        raise InvalidInput("Frame is nested too deeply or holds a number too large") from None
    return value


def check_frame_text(value: Any) -> None:
    """InvalidInput unless every string (keys too) is storable text and nesting stays within
    MAX_FRAME_DEPTH. Iterative: the check itself never recurses."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_FRAME_DEPTH:
            raise InvalidInput(f"Frame is nested deeper than {MAX_FRAME_DEPTH} levels")
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def check_text(text: str) -> None:
    """InvalidInput for a NUL character or a lone surrogate (no database stores them)."""
    if "\x00" in text:
        raise InvalidInput("Text must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("Text must not contain lone surrogates") from None


def check_inputs(inputs: dict[str, Any] | None) -> None:
    """Every `inputs` value the server reads is a string (`id` and `data` are ignored)."""
    for key, value in (inputs or {}).items():
        if key not in IGNORED_INPUTS and not isinstance(value, str):
            raise InvalidInput(f"inputs.{key} must be a string", field=f"inputs.{key}")
