"""Batches a host's frames into the frame archive (Redis) from one background task, so a
token costs no network round trip of its own. If Redis is down, frames stay only in the host's
memory (resume still works while the host lives) and a warning is logged; it recovers by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Protocol

from actors.frames import Frame

log = logging.getLogger(__name__)


class FrameArchive(Protocol):
    """Where frames are archived (storage.redis_frames.RedisFrameArchive)."""

    async def append(self, frames: dict[str, list[Frame]], trims: dict[str, int]) -> None: ...

    async def last_seq(self, chat: str) -> int: ...


class FrameArchiver:
    """`publish`/`trim` enqueue without waiting; one task writes what accumulated."""

    def __init__(self, archive: FrameArchive) -> None:
        self._archive = archive
        self._frames: defaultdict[str, list[Frame]] = defaultdict(list)
        self._trims: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    def publish(self, chat: str, frame: Frame) -> None:
        """Queue one frame of `chat` for archiving."""
        self._frames[chat].append(frame)
        self._kick()

    def trim(self, chat: str, keep_from_seq: int) -> None:
        """Queue dropping `chat`'s archived frames below `keep_from_seq`."""
        self._trims[chat] = keep_from_seq
        self._kick()

    async def last_seq(self, chat: str) -> int | None:
        """The newest archived seq of `chat`, or None when the archive cannot be reached."""
        try:
            return await self._archive.last_seq(chat)
        except Exception as exc:  # Redis down: the caller falls back to local numbering
            log.warning("frame archive unavailable: %s", exc)
            return None

    async def flush(self) -> None:
        """Write everything queued now (also used by tests)."""
        frames, trims = dict(self._frames), dict(self._trims)
        self._frames.clear()
        self._trims.clear()
        if not frames and not trims:
            return
        try:
            await self._archive.append(frames, trims)
        except Exception as exc:
            self.failures += 1
            log.warning(
                "frame archive write failed (%d frames kept only in memory): %s",
                sum(len(f) for f in frames.values()),
                exc,
            )

    def _kick(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
