"""Model context from stored rows: the newest question/answer messages since the last clear."""

from __future__ import annotations

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
            picked.append(HumanMessage(row.message))
        elif row.category == "answer" and row.remark != BREAK_ANSWER:
            picked.append(AIMessage(row.message))
    picked.reverse()
    return picked
