"""The `Turn` protocol: what a session's turn runner drives, whatever the app."""

from __future__ import annotations

from typing import Any, Protocol


class Turn(Protocol):
    """One running turn: `parts` is the streamed answer so far; `stoppable` False once the
    answer is complete."""

    parts: list[str]
    stoppable: bool

    async def run(self, text: str, inputs: dict[str, Any], client_msg_id: str | None) -> str: ...

    async def finish_stopped(self) -> None: ...
