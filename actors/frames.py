"""Server -> client frames (API.md §4): every frame carries every key."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypedDict

import orjson

FrameType = Literal[
    "begin", "start", "stream", "end", "end_cover", "close", "error", "info", "file", "over"
]


class Frame(TypedDict):
    """A chat frame as Bisheng's clients read it (API.md §4), built only by `make_frame`.
    `seq` is None until the frame enters a chat's frame log (`logged_seq` reads it there)."""

    is_bot: bool
    message: Any
    type: FrameType
    category: str
    intermediate_steps: str | None
    files: list[Any]
    user_id: int | None
    message_id: int | None
    source: int
    sender: str | None
    receiver: str | None
    liked: int
    extra: str
    flow_id: str | None
    chat_id: str | None
    seq: int | None


RelayFrame: TypeAlias = "Frame | WireFrame"


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """What one pull returns: frames in seq order, whether the session is still live, and the
    oldest seq it still holds (a resume from before it has a gap). A frame channel's batches
    hold `WireFrame`s (serialized once in the host), a per-chat pull's hold dicts."""

    frames: Sequence[RelayFrame]
    live: bool
    oldest_seq: int = 0

    def __reduce__(self) -> tuple[type[FrameBatch], tuple[Any, ...]]:
        return FrameBatch, (self.frames, self.live, self.oldest_seq)  # see WireFrame.__reduce__


@dataclass(frozen=True, slots=True)
class WireFrame:
    """A frame serialized once, where it was made (the host's frame log): `text` is what the
    ingress writes to the socket as is; `seq`, `type` and `category` are what relaying reads.
    Reads like a `Frame` (`wire["seq"]`); other keys parse the text (tests, not the hot path)."""

    seq: int
    type: str
    category: str
    text: str

    def __getitem__(self, name: str) -> Any:
        if name == "seq":
            return self.seq
        if name == "type":
            return self.type
        if name == "category":
            return self.category
        return json.loads(self.text)[name]

    def as_frame(self) -> Frame:
        """The frame as a dict (parses the text)."""
        frame: Frame = json.loads(self.text)
        return frame

    def __reduce__(self) -> tuple[Any, tuple[int, str, str, str]]:
        # Pickled by its fields (Ray pickles every frame-channel answer): the default for a
        # slotted frozen dataclass runs `_dataclass_getstate`/`setstate` in Python per frame,
        # 10 µs per frame for host and replica together; by fields, 4.4 (docs/benchmarks.md).
        return WireFrame, (self.seq, self.type, self.category, self.text)


def logged_seq(frame: RelayFrame) -> int:
    """The sequence number of a frame read from a chat's frame log (always set there)."""
    seq = frame.seq if isinstance(frame, WireFrame) else frame["seq"]
    if seq is None:
        raise ValueError("a frame from a frame log has a seq")
    return seq


def frame_json(frame: Frame) -> bytes:
    """The one JSON of a frame on the wire, UTF-8, compact (orjson: 0.7 µs for a `stream`
    frame where `json.dumps` takes 4.6). What orjson refuses (a lone surrogate, which a
    client's JSON may carry, or an integer beyond 64 bits) goes through the standard library,
    ASCII-escaped: the same value, and text any WebSocket can carry."""
    try:
        return orjson.dumps(frame, default=str)
    except TypeError:
        return json.dumps(frame, default=str, separators=(",", ":")).encode("ascii")


def frame_text(frame: Frame) -> str:
    """`frame_json` as text (what a WebSocket text message carries)."""
    return frame_json(frame).decode("utf-8")


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
