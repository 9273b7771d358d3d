"""What a session needs from storage, as a protocol: the Ray storage actor handle (wrapped in
`actors.ray.registry`) and an in-process `StorageActor` both satisfy it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from storage.records import (
    AssistantRecord,
    FlowRecord,
    MessageRecord,
    MessageRow,
    SessionClaim,
    SessionRecord,
)


class StoragePort(Protocol):
    """The storage calls a session makes."""

    async def submit(
        self, messages: Sequence[MessageRecord], sessions: Sequence[SessionRecord] = ()
    ) -> list[int]: ...

    async def history(
        self, chat_id: str, flow_id: str, before_id: int | None, limit: int
    ) -> list[MessageRow]: ...

    async def get_flow(self, flow_id: str) -> FlowRecord | None: ...

    async def get_assistant(self, assistant_id: str) -> AssistantRecord | None: ...

    async def session_owner(self, chat_id: str) -> tuple[int | None, str] | None: ...

    async def claim_session(self, record: SessionRecord) -> SessionClaim: ...

    async def find_client_message(self, chat_id: str, client_msg_id: str) -> int | None: ...
