"""What every turn shares: the app it records, its frame emitter and row recorder, chunk text."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from actors.frames import FrameType, make_frame
from actors.sessions.frame_log import FrameLog
from actors.sessions.storage_port import StoragePort
from storage.records import MessageRecord, SessionRecord


@dataclass(frozen=True, slots=True)
class AppInfo:
    """What a turn records about its app on the session row."""

    app_id: str
    name: str
    flow_type: int
    description: str | None = None
    logo: str | None = None


class TurnEmitter:
    """Appends frames for one chat and one asker to the chat's frame log."""

    def __init__(self, log: FrameLog, flow_id: str, chat_id: str, user_id: int | None) -> None:
        self._log, self._flow_id, self._chat_id, self._user_id = log, flow_id, chat_id, user_id

    def emit(self, type_: FrameType, category: str, **fields: Any) -> int:
        frame = make_frame(
            type_,
            category,
            flow_id=self._flow_id,
            chat_id=self._chat_id,
            user_id=self._user_id,
            **fields,
        )
        return self._log.append(frame)


class TurnRecorder:
    """Persists a turn's rows through the storage port (nothing for previews)."""

    def __init__(
        self, storage: StoragePort, app: AppInfo, chat_id: str, user_id: int, persist: bool
    ) -> None:
        self._storage, self._app, self._chat_id = storage, app, chat_id
        self._user_id, self._persist = user_id, persist

    def row(
        self,
        *,
        is_bot: bool,
        message: str,
        type_: str,
        category: str,
        extra: str | None = None,
        remark: str | None = None,
        client_msg_id: str | None = None,
    ) -> MessageRecord:
        return MessageRecord(
            row_key=uuid.uuid4().hex,
            chat_id=self._chat_id,
            flow_id=self._app.app_id,
            user_id=self._user_id,
            is_bot=is_bot,
            message=message,
            type=type_,
            category=category,
            extra=extra,
            remark=remark,
            client_msg_id=client_msg_id,
        )

    async def save_question(
        self, text: str, inputs: dict[str, Any], client_msg_id: str | None
    ) -> int | None:
        """Commit the question row (and the session row on the chat's first ask). Its `message`
        is the JSON text of the ask's inputs, as Bisheng stores it (API.md §4.5)."""
        if not self._persist:
            return None
        row = self.row(
            is_bot=False,
            message=question_message(inputs),
            type_="human",
            category="question",
            extra=json.dumps({"inputs": inputs}),
            client_msg_id=client_msg_id,
        )
        session = SessionRecord(
            chat_id=self._chat_id,
            flow_id=self._app.app_id,
            flow_type=self._app.flow_type,
            flow_name=self._app.name,
            user_id=self._user_id,
            flow_description=self._app.description,
            flow_logo=self._app.logo,
        )
        return (await self._storage.submit([row], [session]))[0]

    async def save(self, rows: list[MessageRecord]) -> list[int | None]:
        """Commit bot rows; ids in order (None for previews)."""
        if not self._persist or not rows:
            return [None] * len(rows)
        return list(await self._storage.submit(rows))


def question_message(inputs: dict[str, Any]) -> str:
    """A question row's `message`: the JSON text of the ask's inputs without `id`."""
    return json.dumps({k: v for k, v in inputs.items() if k != "id"}, ensure_ascii=False)


def chunk_text(chunk: Any) -> str:
    """The text of a streamed chunk (string content or content blocks)."""
    content = getattr(chunk, "content", chunk)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)
