"""App records: flows, their versions, assistants, the partial updates of each and the
online-app summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.records.times import utcnow

FLOW_TYPE_FLOW = 1
"""`flow_type` of a flow (Bisheng's value)."""
FLOW_TYPE_ASSISTANT = 5
"""`flow_type` of an assistant (Bisheng's value)."""
FLOW_OFFLINE = 1
FLOW_ONLINE = 2
"""`status` of an app that users may chat with (Bisheng: 1 offline, 2 online)."""


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """A flow (skill) with its current graph."""

    id: str
    name: str
    status: int
    version: int
    data: dict[str, Any]
    user_id: int
    description: str | None = None
    logo: str | None = None
    is_public: bool = False
    create_time: datetime = field(default_factory=utcnow)
    update_time: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class FlowVersionRecord:
    """One saved graph of a flow."""

    flow_id: str
    version: int
    data: dict[str, Any]
    user_id: int
    create_time: datetime


@dataclass(frozen=True, slots=True)
class FlowChanges:
    """A flow PATCH: None leaves a field as it is. A new `data` creates a new version."""

    name: str | None = None
    description: str | None = None
    logo: str | None = None
    data: dict[str, Any] | None = None
    status: int | None = None
    is_public: bool | None = None


@dataclass(frozen=True, slots=True)
class AssistantRecord:
    """An assistant (API.md §2 assistant object)."""

    id: str
    name: str
    prompt: str
    model: dict[str, Any]
    user_id: int
    tools: list[Any] = field(default_factory=list)
    guide_word: str | None = None
    status: int = 1
    description: str | None = None
    logo: str | None = None
    is_public: bool = False
    create_time: datetime = field(default_factory=utcnow)
    update_time: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class AssistantChanges:
    """An assistant PATCH: None leaves a field as it is."""

    name: str | None = None
    prompt: str | None = None
    model: dict[str, Any] | None = None
    tools: list[Any] | None = None
    guide_word: str | None = None
    status: int | None = None
    description: str | None = None
    logo: str | None = None
    is_public: bool | None = None


@dataclass(frozen=True, slots=True)
class AppSummary:
    """An online flow or assistant (`/chat/chat/online` item); flow_type 1 flow, 5 assistant."""

    id: str
    name: str
    description: str | None
    logo: str | None
    flow_type: int
    update_time: datetime
