"""Client -> server WebSocket frames (API.md §4), validated with pydantic."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actors.errors import InvalidInput

MAX_ID_LENGTH = 64


class ClientFrame(BaseModel):
    """Any client frame: an ask, a stop, a resume or a clear. Unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    flow_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    chat_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    inputs: dict[str, Any] | None = None
    client_msg_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    action: Literal["stop", "resume"] | None = None
    clear_history: bool = False
    last_seq: int | None = Field(default=None, ge=0)

    @property
    def is_ask(self) -> bool:
        """An ask carries non-empty inputs (beyond Bisheng's ignored `id`)."""
        return self.action is None and bool({k for k in (self.inputs or {}) if k != "id"})


def parse_client_frame(text: str) -> ClientFrame:
    """Parse one text frame; JSON-encoded JSON strings are accepted (Bisheng clients send them)."""
    try:
        value: Any = json.loads(text)
        if isinstance(value, str):
            value = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidInput("Frame is not valid JSON", error=str(exc)) from None
    if not isinstance(value, dict):
        raise InvalidInput("Frame must be a JSON object")
    try:
        return ClientFrame.model_validate(value)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise InvalidInput("Invalid frame", errors=errors) from None
