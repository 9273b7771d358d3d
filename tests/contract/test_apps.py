"""The app registry: flows with versions, assistants, online apps, users."""

from __future__ import annotations

import pytest

from storage.records import (
    FLOW_ONLINE,
    FLOW_TYPE_ASSISTANT,
    AssistantChanges,
    AssistantRecord,
    FlowChanges,
    FlowRecord,
)
from storage.repository import Repository
from tests.contract.conftest import chat_with

GRAPH = {"nodes": [{"id": "in", "type": "Input"}], "edges": []}


def flow(flow_id: str, user_id: int = 1, status: int = 1, **kwargs: object) -> FlowRecord:
    return FlowRecord(
        id=flow_id, name=f"flow {flow_id}", status=status, version=1, data=GRAPH,
        user_id=user_id, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def assistant(assistant_id: str, user_id: int = 1, **kwargs: object) -> AssistantRecord:
    return AssistantRecord(
        id=assistant_id, name=f"assistant {assistant_id}", prompt="be brief",
        model={"provider": "demo"}, user_id=user_id, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_flow_crud_with_versions(repo: Repository) -> None:
    await repo.create_flow(flow("f1", description="d"))
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own duplicate error
        await repo.create_flow(flow("f1"))
    renamed = await repo.update_flow("f1", FlowChanges(name="renamed", status=FLOW_ONLINE))
    assert renamed is not None and (renamed.name, renamed.status, renamed.version) == (
        "renamed",
        2,
        1,
    )
    new_graph = {"nodes": [], "edges": [], "v": 2}
    changed = await repo.update_flow("f1", FlowChanges(data=new_graph))
    assert changed is not None and (changed.version, changed.data) == (2, new_graph)
    assert changed.description == "d" and changed.name == "renamed"
    got = await repo.get_flow("f1")
    assert got is not None and got.version == 2 and got.data == new_graph
    versions = await repo.flow_versions("f1")
    assert [(v.version, v.data) for v in versions] == [(1, GRAPH), (2, new_graph)]
    assert await repo.update_flow("missing", FlowChanges(name="x")) is None


async def test_deleting_a_flow_soft_deletes_its_sessions(repo: Repository) -> None:
    await repo.create_flow(flow("f1"))
    await chat_with(repo, "c1", ["q"], flow_id="f1")
    await chat_with(repo, "c2", ["q"], flow_id="f2")
    assert await repo.delete_flow("f1")
    assert not await repo.delete_flow("f1")
    assert await repo.get_flow("f1") is None
    assert await repo.update_flow("f1", FlowChanges(name="x")) is None
    assert [c.session.chat_id for c in await repo.list_chats(1)] == ["c2"]
    s = await repo.get_session("c1")
    assert s is not None and s.is_delete


async def test_flow_list_shows_own_and_public_flows(repo: Repository) -> None:
    await repo.create_flow(flow("mine", user_id=1))
    await repo.create_flow(flow("theirs", user_id=2))
    await repo.create_flow(flow("public", user_id=2, is_public=True))
    await repo.create_flow(flow("gone", user_id=1))
    await repo.delete_flow("gone")
    mine = await repo.list_flows(1)
    assert sorted(f.id for f in mine.items) == ["mine", "public"] and mine.total == 2
    everything = await repo.list_flows(None, page=1, limit=2)
    assert everything.total == 3 and len(everything.items) == 2


async def test_assistant_crud(repo: Repository) -> None:
    created = await repo.create_assistant(assistant("a1", tools=[{"name": "calc"}]))
    got = await repo.get_assistant("a1")
    assert got is not None and (got.tools, got.model, got.status) == (
        [{"name": "calc"}],
        {"provider": "demo"},
        1,
    )
    assert got.id == created.id
    updated = await repo.update_assistant("a1", AssistantChanges(prompt="new", status=FLOW_ONLINE))
    assert updated is not None and (updated.prompt, updated.status, updated.name) == (
        "new",
        2,
        "assistant a1",
    )
    await chat_with(repo, "c1", ["q"], flow_id="a1", flow_type=FLOW_TYPE_ASSISTANT)
    page = await repo.list_assistants(1)
    assert [a.id for a in page.items] == ["a1"] and page.total == 1
    assert await repo.delete_assistant("a1")
    assert await repo.get_assistant("a1") is None
    assert await repo.update_assistant("a1", AssistantChanges(name="x")) is None
    assert await repo.list_chats(1) == []


async def test_online_apps_are_online_visible_and_match_the_keyword(repo: Repository) -> None:
    await repo.create_flow(flow("f-on", status=FLOW_ONLINE))
    await repo.create_flow(flow("f-off"))
    await repo.create_flow(flow("f-other", user_id=2, status=FLOW_ONLINE))
    await repo.create_assistant(assistant("a-on", status=FLOW_ONLINE))
    apps = await repo.list_online_apps(1)
    assert sorted((a.id, a.flow_type) for a in apps) == [("a-on", 5), ("f-on", 1)]
    assert [a.id for a in await repo.list_online_apps(1, keyword="assistant")] == ["a-on"]
    assert len(await repo.list_online_apps(None)) == 3
    assert len(await repo.list_online_apps(None, page=2, limit=2)) == 1
    assert await repo.list_online_apps(1, keyword="100%") == []


async def test_users(repo: Repository) -> None:
    first = await repo.create_user("root", "hash1")
    second = await repo.create_user("bob", "hash2")
    assert first is not None and second is not None
    assert (first.role, second.role) == ("admin", "user")
    assert await repo.create_user("bob", "other") is None
    by_name = await repo.get_user_by_name("bob")
    assert by_name is not None and (by_name.id, by_name.password_hash) == (second.id, "hash2")
    assert await repo.get_user(first.id) == first
    assert await repo.get_user_by_name("nobody") is None
    demo = await repo.ensure_user("demo", "user", "")
    assert await repo.ensure_user("demo", "user", "") == demo
