"""Frame archive in Redis: each chat's recent frames in a Redis stream, so a client can resume
after its session host restarted, through any ingress replica, and seq continues across
incarnations of a session.

Stream entry ids are `<seq>-1`, so XRANGE by seq is exact. Keys expire after `ttl_s` idle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from redis.asyncio import Redis

Frame = Mapping[str, Any]
"""A chat frame as JSON (the session runtime's `actors.frames.Frame`)."""
Entries = list[tuple[str, dict[str, str]]]
PREFIX = "raychat:frames:"


class RedisFrameArchive:
    """Append, read and trim per-chat frame streams. Safe to share across coroutines; every
    method raises redis errors to the caller (callers degrade to in-process state)."""

    def __init__(self, url: str, ttl_s: int = 86_400) -> None:
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )
        self._ttl_s = ttl_s

    @staticmethod
    def _key(chat: str) -> str:
        return PREFIX + chat

    async def append(self, frames: Mapping[str, Sequence[Frame]], trims: Mapping[str, int]) -> None:
        """Append frames (in seq order) per chat and drop entries below each trim seq; one
        round trip for everything."""
        pipe = self._redis.pipeline(transaction=False)
        for chat, chat_frames in frames.items():
            for frame in chat_frames:
                pipe.xadd(self._key(chat), {"f": json.dumps(frame)}, id=f"{frame['seq']}-1")
            pipe.expire(self._key(chat), self._ttl_s)
        for chat, keep_from in trims.items():
            pipe.xtrim(self._key(chat), minid=f"{keep_from}-0", approximate=False)
        await pipe.execute()

    async def last_seq(self, chat: str) -> int:
        """The newest archived seq of a chat (0 when none)."""
        entries = cast(Entries, await self._redis.xrevrange(self._key(chat), count=1))
        return int(entries[0][0].split("-")[0]) if entries else 0

    async def read(self, chat: str, first_seq: int, last_seq: int) -> list[Frame]:
        """Archived frames with first_seq <= seq <= last_seq, in order."""
        entries = cast(
            Entries,
            await self._redis.xrange(self._key(chat), min=f"{first_seq}-0", max=f"{last_seq}-9"),
        )
        return [json.loads(fields["f"]) for _, fields in entries]

    async def delete(self, chat: str) -> None:
        """Forget a chat's frames."""
        await self._redis.delete(self._key(chat))

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
