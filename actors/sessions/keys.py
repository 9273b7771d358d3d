"""How callers address a session (`SessionKey`) and what they ask it (`Ask`).

The vocabulary shared by the session, its collaborators, the host and the ingress; re-exported
by `actors.sessions.session`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors.sessions.apps import AppKind
from actors.sessions.placement import ProfileName


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Identity of a session. `persist=False` marks a preview chat (nothing stored).

    `dedicated` (not part of the identity) names the placement profile when its sessions run
    in their own Ray actor; routing reads it, the session itself does not."""

    flow_id: str
    chat_id: str
    persist: bool = True
    kind: AppKind = "flow"
    dedicated: ProfileName | None = field(default=None, compare=False)

    @property
    def text(self) -> str:
        return f"{self.flow_id}:{self.chat_id}"

    def __reduce__(self) -> tuple[type[SessionKey], tuple[Any, ...]]:
        # Pickled by its fields: a slotted frozen dataclass's default pickling runs Python
        # code per object (`_dataclass_getstate`); every frame-channel answer carries keys.
        return SessionKey, (self.flow_id, self.chat_id, self.persist, self.kind, self.dedicated)


@dataclass(frozen=True, slots=True)
class Ask:
    """One question, already authenticated and validated by the ingress."""

    user_id: int
    inputs: dict[str, Any] = field(default_factory=dict)
    client_msg_id: str | None = None
