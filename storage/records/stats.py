"""Statistics: the filter of a stats query and its per-day and total results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class StatsFilter:
    """Stats scope: sessions of apps owned by `owner_id` (None: every app), optionally one app,
    created in `[start, end)`."""

    owner_id: int | None = None
    flow_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class DayStats:
    """One day (UTC, `YYYY-MM-DD`) of `by_day`."""

    date: str
    sessions: int
    messages: int
    like: int
    dislike: int
    copied: int

    def to_public(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "date": self.date,
            "sessions": self.sessions,
            "messages": self.messages,
            "like": self.like,
            "dislike": self.dislike,
            "copied": self.copied,
        }


@dataclass(frozen=True, slots=True)
class ChatStats:
    """`/chat/stats`: totals and a per-day breakdown, oldest day first."""

    sessions: int
    messages: int
    users: int
    like: int
    dislike: int
    copied: int
    by_day: tuple[DayStats, ...]

    def to_public(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "sessions": self.sessions,
            "messages": self.messages,
            "users": self.users,
            "like": self.like,
            "dislike": self.dislike,
            "copied": self.copied,
            "by_day": [d.to_public() for d in self.by_day],
        }


Feedback = Literal["like", "dislike", "copied"]
