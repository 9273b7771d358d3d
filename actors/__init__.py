"""Actors: session hosts and sessions, the storage actor, flows and models. Plain classes;
`actors.ray.registry` is the only module that wraps them with Ray."""

from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.errors import RaychatError
from actors.sessions.session import Ask, SessionActor, SessionKey, SessionState

__all__ = [
    "Ask",
    "RaychatError",
    "RuntimeConfig",
    "SessionActor",
    "SessionConfig",
    "SessionKey",
    "SessionState",
    "StorageConfig",
]
