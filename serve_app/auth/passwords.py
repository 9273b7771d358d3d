"""Password hashing with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes). Hashing is slow and
memory-hungry by design, so it runs on a small dedicated thread pool (never the replica's event
loop, never the default executor that flow compiles and actor lookups share), and the number of
hashes admitted at once is bounded: a login flood gets 429 instead of unbounded memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from actors.errors import RateLimited

T = TypeVar("T")
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so "no such user" costs as much as "wrong
# password" and timing does not tell them apart.
_DUMMY_HASH = _HASHER.hash("raychat: no such user")


def _verify(encoded: str, password: str) -> bool:
    try:
        return _HASHER.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


class PasswordHashing:
    """argon2id on `workers` threads with at most `queue` more hashes waiting (0: no bound).

    Use from one event loop (a replica's): the admission count is not locked. A hash over the
    bound raises RateLimited (429, `Retry-After: 1`) at once, before any work is queued."""

    def __init__(self, workers: int = 2, queue: int = 32) -> None:
        self._workers = workers
        self._queue = queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Hashes running or waiting now."""
        return self._admitted

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        if self._queue and self._admitted >= self._workers + self._queue:
            raise RateLimited(
                "Too many password checks in progress, retry shortly",
                retry_after=1,
                scope="password_hashing",
            )
        self._admitted += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, fn, *args)
        finally:
            self._admitted -= 1

    async def hash(self, password: str) -> str:
        """An encoded argon2id hash (salt and parameters included)."""
        return await self._run(_HASHER.hash, password)

    async def verify(self, encoded: str | None, password: str) -> bool:
        """True when `password` matches `encoded`; False for no hash (an account without a
        password, such as the demo user, cannot log in)."""
        if not encoded:
            await self._run(_verify, _DUMMY_HASH, password)
            return False
        return await self._run(_verify, encoded, password)

    def close(self) -> None:
        """Stop the worker threads (after the running hashes)."""
        self._executor.shutdown(wait=False)


# For the command line (`raychat user`) and tests; every replica builds its own from settings.
DEFAULT_HASHING = PasswordHashing()


async def hash_password(password: str) -> str:
    """An encoded argon2id hash, on the default pool."""
    return await DEFAULT_HASHING.hash(password)


async def verify_password(encoded: str | None, password: str) -> bool:
    """`PasswordHashing.verify` on the default pool."""
    return await DEFAULT_HASHING.verify(encoded, password)
