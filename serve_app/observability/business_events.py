"""Telemetry events (Bisheng's names, BISHENG.md §6), written through the storage actor.

`new_message_session`, `delete_message_session`, `message_feedback` come from the REST layer;
`application_alive` (one per WebSocket connection, on close) and `application_process` (one per
handled turn) are for the WebSocket layer: call `record_connection_alive` / `record_turn_processed`.

Telemetry never breaks a request or a chat: a failed write is logged and counted
(`raychat_events_dropped_total{kind="telemetry"}`), not raised. The REST layer's events are
committed before its answer; the WebSocket layer's are queued and written in batches, one
storage call per half second per replica (`serve_app.observability.telemetry_queue`).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from actors.errors import RaychatError
from actors.ray.registry import Runtime
from serve_app.observability import metrics
from serve_app.observability.telemetry_queue import TelemetryQueue
from storage.records import MessageRow, TelemetryRecord, iso

log = logging.getLogger(__name__)
FeedbackOperation = Literal["like", "dislike", "copy"]
AppKind = Literal["flow", "assistant"]
SOURCE_API = "api"
SOURCE_PLATFORM = "platform"
_APP_TYPES = {1: "skill", 5: "assistant"}


def event_key(*parts: object) -> str:
    """A stable 32-character key: the same parts always name the same event (idempotent)."""
    text = "|".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def app_type_of(flow_type: int) -> str:
    """Bisheng's app_type string for a flow_type (1 `skill`, 5 `assistant`)."""
    return _APP_TYPES.get(flow_type, str(flow_type))


def _app(app_id: str, app_name: str | None, flow_type: int) -> dict[str, Any]:
    return {"app_id": app_id, "app_name": app_name, "app_type": app_type_of(flow_type)}


def _flow_type(kind: AppKind) -> int:
    return 5 if kind == "assistant" else 1


async def write_telemetry(runtime: Runtime, events: Sequence[TelemetryRecord]) -> None:
    """Commit events; failures are logged and counted, never raised."""
    if not events:
        return
    try:
        await runtime.storage.submit_events(telemetry=events)
    except RaychatError as exc:
        metrics.EVENTS_DROPPED.labels("telemetry").inc(len(events))
        log.warning("telemetry dropped (%d events): %s", len(events), exc.message)


# The WebSocket layer's queue of each runtime (one per replica process; tests make several), by
# the runtime's id with a weak reference to it (runtimes need not be hashable; an id is reused
# only after its runtime is gone, and the reference tells).
_QUEUES: dict[int, tuple[weakref.ref[Runtime], TelemetryQueue]] = {}


def telemetry_queue(runtime: Runtime) -> TelemetryQueue:
    """The runtime's queue of WebSocket-layer events (made on first use)."""
    key = id(runtime)
    found = _QUEUES.get(key)
    if found is not None and found[0]() is runtime:
        return found[1]
    owner = weakref.ref(runtime, lambda _gone: _QUEUES.pop(key, None))

    async def write(events: Sequence[TelemetryRecord]) -> None:
        live = owner()  # a strong reference here would keep every runtime alive
        if live is not None:
            await write_telemetry(live, events)

    queue = TelemetryQueue(write, metrics.EVENTS_DROPPED.labels("telemetry").inc)
    _QUEUES[key] = (owner, queue)
    return queue


def session_created_event(
    user_id: int | None,
    chat_id: str,
    app_id: str,
    app_name: str | None,
    flow_type: int,
    source: str = SOURCE_API,
) -> TelemetryRecord:
    """`new_message_session`, once per chat (its key is derived from the chat id)."""
    payload = {"session_id": chat_id, **_app(app_id, app_name, flow_type), "source": source}
    return TelemetryRecord(
        event_key=event_key("new_message_session", chat_id),
        event_type="new_message_session",
        user_id=user_id,
        chat_id=chat_id,
        payload=payload,
    )


def session_deleted_event(user_id: int | None, chat_id: str) -> TelemetryRecord:
    """`delete_message_session`, once per chat."""
    return TelemetryRecord(
        event_key=event_key("delete_message_session", chat_id),
        event_type="delete_message_session",
        user_id=user_id,
        chat_id=chat_id,
        payload={"session_id": chat_id},
    )


def feedback_event(
    user_id: int,
    message: MessageRow,
    operation_type: FeedbackOperation,
    app_name: str | None,
    flow_type: int,
) -> TelemetryRecord:
    """`message_feedback`: one per call (every click is an event)."""
    payload = {
        "message_id": message.id,
        "operation_type": operation_type,
        **_app(message.flow_id, app_name, flow_type),
    }
    return TelemetryRecord(
        event_key=uuid.uuid4().hex,
        event_type="message_feedback",
        user_id=user_id,
        chat_id=message.chat_id,
        message_id=message.id,
        payload=payload,
    )


async def record_session_created(
    runtime: Runtime,
    *,
    user_id: int,
    chat_id: str,
    app_id: str,
    app_kind: AppKind,
    app_name: str | None = None,
    source: str = SOURCE_PLATFORM,
) -> None:
    """For the WebSocket layer: a chat's session was created by its first turn. Safe to call
    more than once per chat (the event is keyed by the chat id)."""
    event = session_created_event(user_id, chat_id, app_id, app_name, _flow_type(app_kind), source)
    telemetry_queue(runtime).put(event)


async def record_connection_alive(
    runtime: Runtime,
    *,
    user_id: int,
    app_id: str,
    app_kind: AppKind,
    chat_id: str | None,
    started: datetime,
    ended: datetime,
    app_name: str | None = None,
) -> None:
    """For the WebSocket layer, once per connection when it closes: `application_alive`."""
    payload = {
        **_app(app_id, app_name, _flow_type(app_kind)),
        "chat_id": chat_id,
        "start_time": iso(started),
        "end_time": iso(ended),
        "alive_ms": _ms(started, ended),
    }
    telemetry_queue(runtime).put(_event("application_alive", user_id, chat_id, payload))


async def record_turn_processed(
    runtime: Runtime,
    *,
    user_id: int,
    app_id: str,
    app_kind: AppKind,
    chat_id: str | None,
    started: datetime,
    ended: datetime,
    app_name: str | None = None,
) -> None:
    """For the WebSocket layer, once per handled ask (from the ask to its close frame):
    `application_process` with `process_time` in milliseconds."""
    payload = {
        **_app(app_id, app_name, _flow_type(app_kind)),
        "chat_id": chat_id,
        "start_time": iso(started),
        "end_time": iso(ended),
        "process_time": _ms(started, ended),
    }
    telemetry_queue(runtime).put(_event("application_process", user_id, chat_id, payload))


def _event(
    event_type: str, user_id: int, chat_id: str | None, payload: dict[str, Any]
) -> TelemetryRecord:
    return TelemetryRecord(
        event_key=uuid.uuid4().hex,
        event_type=event_type,
        user_id=user_id,
        chat_id=chat_id,
        payload=payload,
    )


def _ms(started: datetime, ended: datetime) -> int:
    return max(0, round((ended - started).total_seconds() * 1000))
