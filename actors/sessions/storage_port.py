"""What a session needs from storage, as a protocol: the storage operations
(`storage.repository.Operations`, not restated here) plus group commit. The storage actor's Ray
client (`actors.ray.storage_client.RayStorageClient`) and an in-process `StorageActor` both
satisfy it; mypy checks both where they are passed to a session host.

Sessions call `submit`, `history`, `get_flow`, `get_assistant`, `session_owner`,
`claim_session` and `find_client_message`; the port is the whole surface rather than a
restated subset of it, so a signature cannot drift between the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from storage.records import MessageRecord, SessionRecord
from storage.repository import Operations


class StoragePort(Operations, Protocol):
    """The storage calls a session makes."""

    async def submit(
        self, messages: Sequence[MessageRecord], sessions: Sequence[SessionRecord] = ()
    ) -> list[int]:
        """Group-commit rows; the message ids once committed (`StorageActor.submit`)."""
