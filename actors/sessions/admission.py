"""Who may use a chat, whether it may still be written, and which asks already came in.

The owner is whoever storage says first created the chat (claimed once per incarnation); a
preview's owner is its first user. Asks are remembered by `client_msg_id` (bounded) so a
repeated ask starts nothing.
"""

from __future__ import annotations

from collections import OrderedDict

from actors.errors import Conflict, Forbidden
from actors.sessions.keys import SessionKey
from actors.sessions.storage_port import StoragePort
from actors.sessions.turns.recording import AppInfo
from storage.records import SessionClaim, SessionRecord


class Admission:
    """Ownership and idempotency of one session incarnation. Runs on the session's event loop;
    `claim` is the only call that awaits (storage), and concurrent claims agree because storage
    decides one owner."""

    def __init__(self, key: SessionKey, storage: StoragePort, remembered_asks: int) -> None:
        self._key = key
        self._storage = storage
        self._remembered_asks = remembered_asks
        self.owner_id: int | None = None
        self._claim: SessionClaim | None = None
        self._seen: OrderedDict[str, int] = OrderedDict()

    async def read_owner(self) -> int | None:
        """The stored owner (None for previews and chats nobody created yet); Forbidden when
        the chat belongs to another app. Sets nothing (activation assigns `owner_id`)."""
        if not self._key.persist:
            return None
        found = await self._storage.session_owner(self._key.chat_id)
        if found is not None and found[1] != self._key.flow_id:
            raise Forbidden("This chat belongs to another app")
        return None if found is None else found[0]

    async def claim(self, user_id: int, app: AppInfo | None) -> None:
        """Make sure the chat has an owner: the first call of an incarnation claims it in
        storage (creating its session row when it has none); a preview takes its first user.
        Forbidden when storage holds the chat for another app."""
        if not self._key.persist:
            if self.owner_id is None:
                self.owner_id = user_id
        elif self._claim is None:
            assert app is not None, "admission follows activation"
            self._claim = await self._claim_chat(user_id, app)
            self.owner_id = self._claim.user_id

    async def _claim_chat(self, user_id: int, info: AppInfo) -> SessionClaim:
        record = SessionRecord(
            chat_id=self._key.chat_id,
            flow_id=self._key.flow_id,
            flow_type=info.flow_type,
            flow_name=info.name,
            user_id=user_id,
            flow_description=info.description,
            flow_logo=info.logo,
        )
        claim = await self._storage.claim_session(record)
        if claim.flow_id != self._key.flow_id:
            raise Forbidden("This chat belongs to another app")
        return claim

    def check_viewer(self, user_id: int) -> None:
        """Forbidden unless `user_id` is the owner (for everyone while no owner is known)."""
        if self.owner_id is None or user_id != self.owner_id:
            raise Forbidden("This chat belongs to another user")

    def check_writable(self) -> None:
        """Conflict when the claim found the chat deleted."""
        if self._claim is not None and self._claim.is_delete:
            raise Conflict("This chat was deleted; use a new chat_id", chat_id=self._key.chat_id)

    def first_seq_of(self, client_msg_id: str | None) -> int | None:
        """The first seq of the admitted ask with this id, None when there is none."""
        if client_msg_id is None:
            return None
        return self._seen.get(client_msg_id)

    def has_seen(self, client_msg_id: str) -> bool:
        return client_msg_id in self._seen

    def remember(self, client_msg_id: str | None, first_seq: int) -> None:
        """Record an admitted ask (the oldest ids are forgotten past `remembered_asks`)."""
        if client_msg_id is None:
            return
        self._seen[client_msg_id] = first_seq
        while len(self._seen) > self._remembered_asks:
            self._seen.popitem(last=False)
