"""Object-level authorization (`serve_app.auth.access`) without Ray: a stub storage holding a few
records, every accessor tried as owner, other user, admin, and for public / deleted objects."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from actors.errors import (
    AssistantOffline,
    FlowDeleted,
    FlowOffline,
    Forbidden,
    NotFound,
)
from serve_app.auth import access
from serve_app.auth.tokens import Principal
from storage.records import (
    FLOW_OFFLINE,
    FLOW_ONLINE,
    AssistantRecord,
    FlowRecord,
    MessageRow,
    SessionRow,
)

OWNER = Principal(1, "owner")
OTHER = Principal(2, "other")
ADMIN = Principal(3, "admin", "admin")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def session(chat_id: str, user_id: int, deleted: bool = False) -> SessionRow:
    return SessionRow(
        chat_id, "", "f1", 1, "flow", None, None, user_id, deleted, 0, 0, 0, 1, NOW, NOW
    )


def message(message_id: int, chat_id: str, user_id: int) -> MessageRow:
    return MessageRow(
        message_id, False, "hi", "human", "question", None, None, None, "f1", chat_id,
        user_id, 0, 0, 0, 1, 0, None, NOW, NOW,
    )  # fmt: skip


@dataclass
class StubStorage:
    flows: dict[str, FlowRecord] = field(default_factory=dict)
    assistants: dict[str, AssistantRecord] = field(default_factory=dict)
    sessions: dict[str, SessionRow] = field(default_factory=dict)
    messages: dict[int, MessageRow] = field(default_factory=dict)

    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        return self.flows.get(flow_id)

    async def get_assistant(self, assistant_id: str) -> AssistantRecord | None:
        return self.assistants.get(assistant_id)

    async def get_session(self, chat_id: str) -> SessionRow | None:
        return self.sessions.get(chat_id)

    async def get_message(self, message_id: int) -> MessageRow | None:
        return self.messages.get(message_id)


@dataclass
class StubRuntime:
    storage: StubStorage


@pytest.fixture
def runtime() -> Any:
    private = FlowRecord(id="f1", name="f", status=FLOW_ONLINE, version=1, data={}, user_id=1)
    return StubRuntime(
        StubStorage(
            flows={
                "f1": private,
                "pub": replace(private, id="pub", is_public=True),
                "off": replace(private, id="off", status=FLOW_OFFLINE),
            },
            assistants={
                "a1": AssistantRecord(
                    id="a1", name="a", prompt="", model={}, user_id=1, status=FLOW_ONLINE
                ),
                "aoff": AssistantRecord(id="aoff", name="a", prompt="", model={}, user_id=1),
            },
            sessions={"c1": session("c1", 1), "gone": session("gone", 1, deleted=True)},
            messages={10: message(10, "c1", 1), 11: message(11, "gone", 1)},
        )
    )


async def test_flow_read_owner_public_admin_write_owner_only(runtime: Any) -> None:
    assert (await access.access_flow_by_id(runtime, OWNER, "f1", write=True)).id == "f1"
    assert (await access.access_flow_by_id(runtime, ADMIN, "f1")).id == "f1"
    assert (await access.access_flow_by_id(runtime, OTHER, "pub")).id == "pub"
    with pytest.raises(Forbidden):
        await access.access_flow_by_id(runtime, OTHER, "f1")
    for user in (OTHER, ADMIN):
        with pytest.raises(Forbidden):
            await access.access_flow_by_id(runtime, user, "pub", write=True)
    with pytest.raises(NotFound):
        await access.access_flow_by_id(runtime, OWNER, "missing")


async def test_assistant_rules_match_flows(runtime: Any) -> None:
    assert (await access.access_assistant_by_id(runtime, OWNER, "a1", write=True)).id == "a1"
    assert (await access.access_assistant_by_id(runtime, ADMIN, "a1")).id == "a1"
    with pytest.raises(Forbidden):
        await access.access_assistant_by_id(runtime, OTHER, "a1")
    with pytest.raises(NotFound):
        await access.access_assistant_by_id(runtime, OTHER, "nope")


async def test_app_for_chat_needs_online_and_permission(runtime: Any) -> None:
    assert (await access.access_app_for_chat(runtime, OTHER, "pub")).id == "pub"
    assert isinstance(await access.access_app_for_chat(runtime, OWNER, "a1"), AssistantRecord)
    with pytest.raises(FlowOffline):
        await access.access_app_for_chat(runtime, OWNER, "off")
    with pytest.raises(AssistantOffline):
        await access.access_app_for_chat(runtime, OWNER, "aoff")
    with pytest.raises(Forbidden):
        await access.access_app_for_chat(runtime, OTHER, "f1")
    with pytest.raises(NotFound):
        await access.access_app_for_chat(runtime, OWNER, "missing")
    with pytest.raises(FlowDeleted):
        await access.access_flow_for_chat(runtime, OWNER, "missing")


async def test_chat_owner_reads_and_writes_admin_only_reads(runtime: Any) -> None:
    assert await access.access_chat_by_id(runtime, OWNER, "c1", write=True) is not None
    assert await access.access_chat_by_id(runtime, ADMIN, "c1") is not None
    with pytest.raises(Forbidden):
        await access.access_chat_by_id(runtime, ADMIN, "c1", write=True)
    with pytest.raises(Forbidden):
        await access.access_chat_by_id(runtime, OTHER, "c1")
    assert await access.access_chat_by_id(runtime, OTHER, "missing") is None


async def test_deleted_chat_is_none_unless_asked_for_and_still_not_others(runtime: Any) -> None:
    assert await access.access_chat_by_id(runtime, OWNER, "gone") is None
    found = await access.access_chat_by_id(runtime, ADMIN, "gone", include_deleted=True)
    assert found is not None and found.is_delete
    with pytest.raises(Forbidden):
        await access.access_chat_by_id(runtime, OTHER, "gone")


async def test_message_follows_its_chat(runtime: Any) -> None:
    assert (await access.access_message_by_id(runtime, OWNER, 10, write=True)).id == 10
    assert (await access.access_message_by_id(runtime, ADMIN, 10)).id == 10
    with pytest.raises(Forbidden):
        await access.access_message_by_id(runtime, ADMIN, 10, write=True)
    with pytest.raises(Forbidden):
        await access.access_message_by_id(runtime, OTHER, 10)
    with pytest.raises(NotFound):
        await access.access_message_by_id(runtime, OWNER, 99)
    with pytest.raises(NotFound):  # its chat was deleted
        await access.access_message_by_id(runtime, OWNER, 11)
