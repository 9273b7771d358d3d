"""Server -> client frames (API.md §4): every frame carries every key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FrameType = Literal[
    "begin", "start", "stream", "end", "end_cover", "close", "error", "info", "file", "over"
]
Frame = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """What one pull returns: frames in seq order, whether the session is still live, and the
    oldest seq it still holds (a resume from before it has a gap)."""

    frames: list[Frame]
    live: bool
    oldest_seq: int = 0


@dataclass(slots=True)
class ChannelBatch:
    """What one frame-channel call returns: `known` is False when the host does not know the
    channel (it restarted, or forgot a channel nobody polled): the replica then sends its whole
    watch list again. `batches` holds news by chat (frames, or `live=False` when the session is
    gone); `refused` the chats the caller may not watch (Forbidden), by chat, with the reason."""

    known: bool = True
    batches: dict[Any, FrameBatch] = field(default_factory=dict)
    refused: dict[Any, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WatchPoint:
    """Where a chat's frame log stands: the newest seq, and the oldest seq still kept."""

    newest_seq: int
    oldest_seq: int


FRAME_KEYS = (
    "is_bot",
    "message",
    "type",
    "category",
    "intermediate_steps",
    "files",
    "user_id",
    "message_id",
    "source",
    "sender",
    "receiver",
    "liked",
    "extra",
    "flow_id",
    "chat_id",
    "seq",
)


def make_frame(
    type_: FrameType,
    category: str,
    *,
    flow_id: str | None,
    chat_id: str | None,
    message: Any = "",
    user_id: int | None = None,
    message_id: int | None = None,
    is_bot: bool = True,
    intermediate_steps: str | None = None,
    extra: str = "{}",
    source: int = 0,
) -> Frame:
    """A complete frame; `seq` is filled in when the frame enters a chat's frame log."""
    return {
        "is_bot": is_bot,
        "message": message,
        "type": type_,
        "category": category,
        "intermediate_steps": intermediate_steps,
        "files": [],
        "user_id": user_id,
        "message_id": message_id,
        "source": source,
        "sender": None,
        "receiver": None,
        "liked": 0,
        "extra": extra,
        "flow_id": flow_id,
        "chat_id": chat_id,
        "seq": None,
    }


def error_message(code: int, message: str, data: dict[str, Any]) -> dict[str, Any]:
    """The `message` of an error frame: the REST envelope shape."""
    return {"status_code": code, "status_message": message, "data": data}


def stream_message(content: str) -> dict[str, Any]:
    """The `message` of a `stream` frame."""
    return {"content": content, "reasoning_content": None}
