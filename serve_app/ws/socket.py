"""One client WebSocket: reads client frames, drives session actors, relays their frames.

Holds no conversation state: only which chat the socket currently addresses and one frame pump
per chat it watches. Everything durable lives in the session actors and storage. `ChatSocket`
reads frames (limits, parsing) and carries out the client's commands; `Outbox` (outbox.py) writes
frames, `FrameRelay` (relay.py) runs the pumps, `Watching` (watching.py) decides where relaying
a chat starts (connect, switch, resume).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import WebSocket

from actors.errors import InvalidInput, RaychatError
from actors.frames import Frame, FrameType
from actors.ray.registry import Runtime
from actors.sessions.apps import AppKind
from actors.sessions.placement import ProfileName, placement_of
from actors.sessions.session import Ask, SessionKey
from serve_app.auth.access import access_assistant_for_chat, access_flow_for_chat
from serve_app.auth.tokens import Principal
from serve_app.errors import CLOSE_NORMAL, CLOSE_TOO_BIG, error_frame
from serve_app.limits import limiter_of
from serve_app.observability.business_events import record_session_created, record_turn_processed
from serve_app.schemas.text import ID_MAX
from serve_app.ws.frame_rate import FrameRate
from serve_app.ws.outbox import Outbox
from serve_app.ws.protocol import ClientFrame, check_text, parse_client_frame
from serve_app.ws.relay import FrameRelay
from serve_app.ws.turn_tracker import TurnTracker
from serve_app.ws.watched_chats import WatchedChats
from serve_app.ws.watching import Watching
from storage.records import FLOW_ONLINE

# How long a socket opened on a chat waits for a first frame (possibly a `resume`) before it
# starts relaying that chat's new frames (none is lost: relaying starts at the connect point).
DEFER_RELAY_S = 0.5
PUMP_RETRIES = 3


@dataclass(frozen=True, slots=True)
class AppRef:
    """The app a socket chats with: what routing needs, nothing more."""

    id: str
    kind: AppKind
    dedicated: ProfileName | None = None
    online: bool = True


async def access_app(
    runtime: Runtime, user: Principal, kind: AppKind, app_id: str, *, preview: bool = False
) -> AppRef:
    """Load and authorize the app of a socket (or of a switch frame). With `preview` (no chat
    named yet) the owner may use an offline app; a later chat id re-checks (`_switch`)."""
    if kind == "assistant":
        assistant = await access_assistant_for_chat(runtime, user, app_id, preview=preview)
        return AppRef(assistant.id, "assistant", online=assistant.status == FLOW_ONLINE)
    flow = await access_flow_for_chat(runtime, user, app_id, preview=preview)
    return AppRef(flow.id, "flow", placement_of(flow.data), online=flow.status == FLOW_ONLINE)


class ChatSocket:
    """Serves one accepted socket until the client leaves. Frames to the client are written by
    one coroutine at a time (the outbox); one pump per watched chat relays its frame log."""

    def __init__(
        self,
        ws: WebSocket,
        runtime: Runtime,
        user: Principal,
        app: AppRef,
        chat_id: str | None,
    ) -> None:
        self._ws = ws
        self._runtime = runtime
        self._user = user
        self._app = app
        self._chat_id = chat_id
        self._preview_id = f"preview-{uuid.uuid4().hex}"
        self._watched = WatchedChats(runtime.config.ws_max_chats)
        self._limiter = limiter_of(ws.app.state)
        self._frames = FrameRate(runtime.config.ws_frames_per_second)
        self._tracker = TurnTracker(app.kind, self._turn_done)
        self._out = Outbox(ws, user.user_id)
        self._relay = FrameRelay(
            runtime,
            user.user_id,
            self._out,
            self._watched,
            self._tracker,
            retries=PUMP_RETRIES,
            lease_s=self._limiter.limits.lease_s,
        )
        self._watching = Watching(
            runtime, user.user_id, self._relay, self._out, self._watched, defer_s=DEFER_RELAY_S
        )

    async def serve(self) -> None:
        """Watch the initial chat, then receive until disconnect; oversize frames close 1009."""
        try:
            if self._chat_id is not None:
                await self._errors_as_frames(self._watch_initial())
            while True:
                message = await self._receive_or_idle()
                if message is None or message["type"] == "websocket.disconnect":
                    return
                text = _text_of(message)
                if len(text.encode("utf-8", "replace")) > self._runtime.config.ws_max_frame_bytes:
                    await self._ws.close(CLOSE_TOO_BIG, "frame too large")
                    return
                await self._errors_as_frames(self._on_client_frame(text))
        finally:
            self._watching.close()
            self._watched.stop_all()
            self._tracker.hand_off(self._relay.wait_turns_closed)

    async def _receive_or_idle(self) -> MutableMapping[str, Any] | None:
        """The next client message; None after closing a socket idle (no frame either way)
        for `ws_idle_timeout_s` (0: never, the default). Protocol-level pings are sent and
        answered by the server itself (uvicorn) and never reach this loop."""
        idle_s = self._runtime.config.ws_idle_timeout_s
        if idle_s <= 0:
            return await self._ws.receive()
        loop = asyncio.get_running_loop()
        while True:
            wait_s = self._out.last_activity + idle_s - loop.time()
            if wait_s <= 0:
                await self._ws.close(CLOSE_NORMAL, "idle timeout")
                return None
            try:
                message = await asyncio.wait_for(self._ws.receive(), wait_s)
            except TimeoutError:
                continue  # frames sent meanwhile count as activity: re-check the deadline
            self._out.last_activity = loop.time()
            return message

    async def _errors_as_frames(self, work: Any) -> None:
        """Run `work`; a RaychatError becomes an error frame to this client."""
        try:
            await work
        except RaychatError as exc:
            await self._out.send([error_frame(exc, self._app.id, self._chat_id)])

    async def _on_client_frame(self, text: str) -> None:
        self._frames.spend()  # every frame counts, before any parsing: a 429 drops it
        await self._on_text(text)

    async def _on_text(self, text: str) -> None:
        frame = parse_client_frame(text)
        switched = await self._switch(frame)
        self._watched.make_room(self._key())
        if frame.action == "resume":
            await self._resume(frame)  # it decides where relaying starts
            return
        self._watching.start_deferred()
        if switched:
            await self._watching.watch_current(self._key())
        if frame.action == "stop":
            await self._stop()
        elif frame.clear_history:
            await self._limiter.check_ask(self._user.user_id)  # a clear is an ask for the limit
            await self._runtime.clear_context(self._key(), self._user.user_id)
        elif frame.is_ask:
            await self._ask(frame)
        elif frame.is_select and self._app.kind == "assistant":
            # Bisheng's select-chat frame: answered as Bisheng's assistant socket does (its
            # clients wait for this `close` before they send a question).
            await self._out.send(
                [self._frame("begin", "processing"), self._frame("close", "processing")]
            )

    async def _switch(self, frame: ClientFrame) -> bool:
        """Re-target the socket; True when the chat changed. A chat id on an app that is only
        usable as a preview (offline, the caller's own) is refused as at the handshake."""
        before = self._key()
        chat_id = frame.chat_id or self._chat_id
        if frame.flow_id and frame.flow_id != self._app.id:
            self._app = await access_app(
                self._runtime, self._user, self._app.kind, frame.flow_id, preview=chat_id is None
            )
        if chat_id is not None and not self._app.online:
            self._app = await access_app(self._runtime, self._user, self._app.kind, self._app.id)
        self._chat_id = chat_id
        return self._key() != before and self._chat_id is not None

    def _key(self) -> SessionKey:
        app = self._app
        chat_id, persist = (self._chat_id, True) if self._chat_id else (self._preview_id, False)
        return SessionKey(app.id, chat_id, persist, app.kind, dedicated=app.dedicated)

    async def _watch_initial(self) -> None:
        """The chat named in the connect URL: checked like a frame's `chat_id`."""
        chat_id = self._chat_id
        self._chat_id = None
        assert chat_id is not None
        if len(chat_id) > ID_MAX:
            raise InvalidInput(f"chat_id is longer than {ID_MAX} characters")
        check_text(chat_id)
        self._chat_id = chat_id
        await self._watching.watch_deferred(self._key())

    async def _ask(self, frame: ClientFrame) -> None:
        key = self._key()
        inputs = {k: v for k, v in (frame.inputs or {}).items() if k != "id"}
        ask = Ask(user_id=self._user.user_id, inputs=inputs, client_msg_id=frame.client_msg_id)
        await self._limiter.check_ask(self._user.user_id)
        lease = await self._limiter.acquire_turn(self._user.user_id)
        try:
            first_seq = await self._runtime.start_turn(key, ask)
        except BaseException:
            await lease.release()
            raise
        self._tracker.started(key, first_seq, lease)
        self._watched.set_in_turn(key, True)  # not evictable before its pump sees the end
        self._relay.start(key, first_seq - 1)
        if key.persist and self._watched.first_announcement(key):
            self._tracker.run_later(
                record_session_created(
                    self._runtime,
                    user_id=self._user.user_id,
                    chat_id=key.chat_id,
                    app_id=key.flow_id,
                    app_kind=key.kind,
                )
            )

    async def _turn_done(self, key: SessionKey, started: datetime, ended: datetime) -> None:
        await record_turn_processed(
            self._runtime,
            user_id=self._user.user_id,
            app_id=key.flow_id,
            app_kind=key.kind,
            chat_id=key.chat_id if key.persist else None,
            started=started,
            ended=ended,
        )

    async def _stop(self) -> None:
        self._tracker.stop_requested(self._key())
        if not await self._runtime.stop(self._key(), self._user.user_id):
            await self._out.send([self._frame("close", "processing")])

    async def _resume(self, frame: ClientFrame) -> None:
        if frame.chat_id is None or frame.last_seq is None:
            raise InvalidInput("resume needs chat_id and last_seq")
        await self._watching.resume(self._key(), frame.last_seq)

    def _frame(self, type_: FrameType, category: str) -> Frame:
        """A frame of ours about the chat the socket addresses now."""
        return self._out.frame(type_, category, self._app.id, self._chat_id)


def _text_of(message: MutableMapping[str, Any]) -> str:
    if message.get("text") is not None:
        return str(message["text"])
    return bytes(message.get("bytes") or b"").decode("utf-8", errors="replace")
