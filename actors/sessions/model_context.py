"""Model context from stored rows: the newest question/answer messages since the last clear."""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from storage.records import MessageRow

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
