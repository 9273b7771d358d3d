"""User records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user; `password_hash` never leaves the storage and auth layers."""

    id: int
    user_name: str
    role: str
    password_hash: str = ""
