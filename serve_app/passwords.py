"""Password hashing with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes). Hashing is slow by
design, so it runs in a worker thread and never blocks the replica's event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# Verified against when the user does not exist, so "no such user" costs as much as "wrong
# password" and timing does not tell them apart.
_DUMMY_HASH = _HASHER.hash("raychat: no such user")


async def hash_password(password: str) -> str:
    """An encoded argon2id hash (salt and parameters included)."""
    return await asyncio.to_thread(_HASHER.hash, password)


def _verify(encoded: str, password: str) -> bool:
    try:
        return _HASHER.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(encoded: str | None, password: str) -> bool:
    """True when `password` matches `encoded`; False for no hash (an account without a
    password, such as the demo user, cannot log in)."""
    if not encoded:
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        return False
    return await asyncio.to_thread(_verify, encoded, password)
