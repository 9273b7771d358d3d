"""Flows (skills) and assistants: the app registry (API.md §2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from actors.flows.demo_graph import demo_graph, demo_model
from serve_app.schemas.envelope import IsoTime
from serve_app.schemas.text import NAME_MAX, RequestBody
from storage.records import AppSummary, AssistantRecord, FlowRecord

TEXT_MAX = 1024
PROMPT_MAX = 100_000
# FLOW_OFFLINE, FLOW_ONLINE (storage.records; a Literal cannot name them, a unit test pins them).
AppStatus = Literal[1, 2]


class FlowCreate(RequestBody):
    """`POST /api/v1/flows`. The graph (FLOWS.md) must compile; `public` shares the flow."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"name": "Echo", "description": "Echoes", "data": demo_graph()}]
        },
    )

    name: str = Field(min_length=1, max_length=NAME_MAX)
    description: str | None = Field(default=None, max_length=TEXT_MAX)
    logo: str | None = Field(default=None, max_length=TEXT_MAX)
    data: dict[str, Any]
    public: bool = False


class FlowUpdate(RequestBody):
    """`PATCH /api/v1/flows/{flow_id}`: absent or null fields stay as they are; a new `data`
    becomes a new version; `status` 2 puts the flow online, 1 takes it offline."""

    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"status": 2}, {"name": "Renamed"}]}
    )

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    description: str | None = Field(default=None, max_length=TEXT_MAX)
    logo: str | None = Field(default=None, max_length=TEXT_MAX)
    data: dict[str, Any] | None = None
    status: AppStatus | None = None
    public: bool | None = None


class FlowPublic(BaseModel):
    """A flow: API.md §2's fields plus `public` and `flow_type` 1 (Bisheng's frontends build
    an app's socket URL from it, API.md §4.5)."""

    id: str
    name: str
    description: str | None
    logo: str | None
    status: int
    version: int
    data: dict[str, Any]
    user_id: int
    create_time: IsoTime
    update_time: IsoTime
    public: bool
    flow_type: Literal[1] = 1

    @classmethod
    def of(cls, flow: FlowRecord) -> FlowPublic:
        return cls(
            id=flow.id,
            name=flow.name,
            description=flow.description,
            logo=flow.logo,
            status=flow.status,
            version=flow.version,
            data=flow.data,
            user_id=flow.user_id,
            create_time=flow.create_time,
            update_time=flow.update_time,
            public=flow.is_public,
        )


class AssistantCreate(RequestBody):
    """`POST /api/v1/assistant`. `model` takes ChatModel params (FLOWS.md); `tools` are
    `calculator`, `current_time`, `flow:<flow_id>` or `knowledge:<JSON list of texts>`."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "name": "Helper",
                    "prompt": "You are a helpful assistant.",
                    "model": demo_model(),
                    "tools": ["calculator"],
                    "guide_word": "Ask me anything",
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=NAME_MAX)
    prompt: str = Field(max_length=PROMPT_MAX)
    model: dict[str, Any]
    tools: list[str] = Field(default_factory=list, max_length=64)
    guide_word: str | None = Field(default=None, max_length=TEXT_MAX)
    description: str | None = Field(default=None, max_length=TEXT_MAX)
    logo: str | None = Field(default=None, max_length=TEXT_MAX)
    public: bool = False


class AssistantUpdate(RequestBody):
    """`PATCH /api/v1/assistant/{assistant_id}`: absent or null fields stay as they are."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"status": 2}]})

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    prompt: str | None = Field(default=None, max_length=PROMPT_MAX)
    model: dict[str, Any] | None = None
    tools: list[str] | None = Field(default=None, max_length=64)
    guide_word: str | None = Field(default=None, max_length=TEXT_MAX)
    description: str | None = Field(default=None, max_length=TEXT_MAX)
    logo: str | None = Field(default=None, max_length=TEXT_MAX)
    status: AppStatus | None = None
    public: bool | None = None


class AssistantPublic(BaseModel):
    """An assistant: API.md §2's fields plus `description`, `logo`, `public` and `flow_type`
    5 (API.md §4.5)."""

    id: str
    name: str
    prompt: str
    model: dict[str, Any]
    tools: list[Any]
    guide_word: str | None
    status: int
    user_id: int
    create_time: IsoTime
    update_time: IsoTime
    description: str | None
    logo: str | None
    public: bool
    flow_type: Literal[5] = 5

    @classmethod
    def of(cls, a: AssistantRecord) -> AssistantPublic:
        return cls(
            id=a.id,
            name=a.name,
            prompt=a.prompt,
            model=a.model,
            tools=list(a.tools),
            guide_word=a.guide_word,
            status=a.status,
            user_id=a.user_id,
            create_time=a.create_time,
            update_time=a.update_time,
            description=a.description,
            logo=a.logo,
            public=a.is_public,
        )


class ToolItem(BaseModel):
    """An entry of `tool_list`: Bisheng's frontends label a tool card by `tool_key`."""

    id: int
    name: str
    tool_key: str
    description: str


class FlowItem(BaseModel):
    """An entry of `flow_list` (a flow used as a tool); `status` 1 shows it as offline."""

    id: str
    name: str
    description: str | None
    logo: str | None
    status: int
    flow_type: Literal[1] = 1


class KnowledgeItem(BaseModel):
    """An entry of `knowledge_list`: raychat's knowledge tools are inline documents, named by
    the tool's own name (`knowledge_<hash>`)."""

    id: str
    name: str


class AssistantInfoPublic(AssistantPublic):
    """`GET /api/v1/assistant/info/{id}` (Bisheng's path): the assistant with the lists
    Bisheng's frontends label tool cards from."""

    tool_list: list[ToolItem]
    flow_list: list[FlowItem]
    knowledge_list: list[KnowledgeItem]


class OnlineAppPublic(BaseModel):
    """`/chat/chat/online` item: an online flow (`flow_type` 1) or assistant (5)."""

    id: str
    name: str
    description: str | None
    logo: str | None
    flow_type: int
    update_time: IsoTime

    @classmethod
    def of(cls, app: AppSummary) -> OnlineAppPublic:
        return cls(
            id=app.id,
            name=app.name,
            description=app.description,
            logo=app.logo,
            flow_type=app.flow_type,
            update_time=app.update_time,
        )


class FlowVersionPublic(BaseModel):
    """One saved graph of a flow."""

    flow_id: str
    version: int
    data: dict[str, Any]
    user_id: int
    create_time: IsoTime
