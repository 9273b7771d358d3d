"""The model context: the newest question/answer messages since the last clear, read from stored
rows (`context_from_rows`) and held by a live session (`ModelContext`)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from actors.sessions.storage_port import StoragePort
from storage.records import HistoryQuery, MessageRow

CLEAR_MARKER = "clear_history"
BREAK_ANSWER = "break_answer"


def context_from_rows(newest_first: Sequence[MessageRow], limit: int) -> list[BaseMessage]:
    """Up to `limit` messages, oldest first, stopping at the newest clear marker.

    Stopped (partial) answers are left out, as Bisheng does: the model should not continue from
    half an answer.
    """
    picked: list[BaseMessage] = []
    for row in newest_first:
        if row.remark == CLEAR_MARKER or len(picked) >= limit:
            break
        if row.category == "question":
            picked.append(HumanMessage(question_text(row.message)))
        elif row.category == "answer" and row.remark != BREAK_ANSWER:
            picked.append(AIMessage(row.message))
    picked.reverse()
    return picked


def question_text(message: str) -> str:
    """The asked text of a question row: rows store the JSON of the ask's inputs (Bisheng's
    form), whose text is under `input` or the flow's own key (the first string value beside
    `data`); rows inserted over REST as plain text are that text."""
    try:
        inputs = json.loads(message)
    except ValueError:
        return message
    if not isinstance(inputs, dict):
        return message
    if isinstance(inputs.get("input"), str):
        return str(inputs["input"])
    texts = [v for k, v in inputs.items() if k not in ("id", "data") and isinstance(v, str)]
    return texts[0] if texts else message


class ModelContext:
    """The messages a session's next turn starts from. Rebuilt from storage on activation and,
    after `mark_stale`, before the next turn; a running turn keeps the copy it started with."""

    def __init__(
        self, storage: StoragePort, chat_id: str, flow_id: str, persist: bool, limit: int
    ) -> None:
        self._storage, self._chat_id, self._flow_id = storage, chat_id, flow_id
        self._persist, self._limit = persist, limit
        self.messages: list[BaseMessage] = []
        self._stale = False

    async def read(self) -> list[BaseMessage]:
        """The context as storage has it (empty for previews and with `limit` 0)."""
        if not self._persist or self._limit == 0:
            return []
        rows = await self._storage.history(
            HistoryQuery(self._chat_id, self._flow_id, None, 4 * self._limit + 8)
        )
        return context_from_rows(rows, self._limit)

    def mark_stale(self) -> None:
        """Stored messages changed outside turns (REST edits): re-read before the next turn."""
        self._stale = True

    async def for_turn(self) -> list[BaseMessage]:
        """A copy for a starting turn, re-read first when stale (a failed read still clears
        the flag and raises)."""
        if self._stale:
            self._stale = False
            self.messages = await self.read()
        return list(self.messages)

    def add_exchange(self, question: str, answer: str) -> None:
        """A turn answered: its question and answer join the context."""
        self.messages += [HumanMessage(question), AIMessage(answer)]

    def clear(self) -> None:
        self.messages = []
