"""Session hosts and app loading without Ray: `drop` releases a dedicated host, compiling never
stalls the host's event loop, and assistant `flow:` tools are authorized when they are built."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
import uuid
from typing import Any

import pytest

from actors.config import ProviderConfig, SessionConfig
from actors.errors import FlowDeleted, FlowInvalid, FlowOffline, Forbidden
from actors.flows.compiler import compile_flow
from actors.flows.demo_graph import demo_model
from actors.sessions.apps import AppLoader
from actors.sessions.host import SessionHost
from actors.sessions.session import SessionKey
from actors.storage_actor.actor import StorageActor
from storage.records import FLOW_OFFLINE, FLOW_ONLINE, AssistantRecord
from tests.conftest import demo_graph, flow_record

OWNER, OTHER = 1, 2


class Emptied:
    """An `on_empty` callback that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


async def test_dropping_the_last_session_runs_on_empty(storage: StorageActor) -> None:
    flow = flow_record(uuid.uuid4().hex, demo_graph())
    await storage.put_flow(flow)
    emptied = Emptied()
    host = SessionHost(SessionConfig(), storage, on_empty=emptied)
    one, two = SessionKey(flow.id, "chat-1"), SessionKey(flow.id, "chat-2")
    await host.watch(one, OWNER)
    await host.watch(two, OWNER)
    assert await host.drop(one) is True
    assert emptied.calls == 0  # another session is still live
    assert await host.drop(two) is True
    assert emptied.calls == 1  # the host is empty: a dedicated host exits here
    assert await host.drop(two) is False
    assert emptied.calls == 1


async def test_passivating_the_last_session_still_runs_on_empty(storage: StorageActor) -> None:
    flow = flow_record(uuid.uuid4().hex, demo_graph())
    await storage.put_flow(flow)
    emptied = Emptied()
    host = SessionHost(SessionConfig(idle_timeout_s=60), storage, on_empty=emptied)
    key = SessionKey(flow.id, "idle")
    await host.watch(key, OWNER)
    (await host._session(key, OWNER)).last_used -= 120
    assert host.passivate_idle() == 1 and emptied.calls == 1


def big_retriever_graph(documents: int = 20_000) -> dict[str, Any]:
    """A graph whose compile takes a while: BM25 indexing of many documents."""
    graph = demo_graph()
    docs = [
        f"document {i} on topic {i % 97}: alpha beta gamma delta {i * 7}" for i in range(documents)
    ]
    graph["nodes"].append({"id": "r", "type": "Retriever", "params": {"documents": docs, "k": 2}})
    graph["nodes"][1]["params"]["template"] = "{context}\n{input}"
    return graph


async def test_compiling_a_big_flow_does_not_stall_the_event_loop(storage: StorageActor) -> None:
    graph = big_retriever_graph()
    started = time.perf_counter()
    compile_flow(graph)
    compile_s = time.perf_counter() - started  # how long the loop would stall if compiled on it
    flow = flow_record(uuid.uuid4().hex, graph)
    await storage.put_flow(flow)
    loader = AppLoader(storage)

    loop = asyncio.get_running_loop()
    ticks: list[float] = []
    ticking = asyncio.Event()
    done = False

    async def ticker() -> None:
        while not done:
            ticks.append(loop.time())
            ticking.set()
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await ticking.wait()
    first_tick = len(ticks)
    load_started = loop.time()
    await loader.load("flow", flow.id)
    loaded_at = loop.time()  # a compile on the loop ends here with no tick since it began
    done = True
    await task
    during = [*ticks[first_tick - 1 :], loaded_at]
    longest_gap = max(b - a for a, b in itertools.pairwise(during))
    # On the loop, one gap would be the whole compile (most of the load); in a thread the loop
    # keeps turning. Relative to this load's own duration, so a busy machine slows both alike.
    assert longest_gap < (loaded_at - load_started) / 2, (longest_gap, compile_s)


def assistant_with_tool(flow_id: str, owner: int = OWNER) -> AssistantRecord:
    return AssistantRecord(
        id=uuid.uuid4().hex,
        name="helper",
        prompt="",
        user_id=owner,
        status=FLOW_ONLINE,
        model=demo_model(tokens_per_second=0),
        tools=[f"flow:{flow_id}"],
    )


async def loaded_with_tool_flow(storage: StorageActor, **flow_fields: Any) -> Any:
    flow = dataclasses.replace(flow_record(uuid.uuid4().hex, demo_graph()), **flow_fields)
    await storage.put_flow(flow)
    assistant = assistant_with_tool(flow.id)
    await storage.create_assistant(assistant)
    return await AppLoader(storage).load("assistant", assistant.id)


async def test_tool_flow_of_the_owner_or_public_and_online_is_built(storage: StorageActor) -> None:
    own = await loaded_with_tool_flow(storage, user_id=OWNER)
    public = await loaded_with_tool_flow(storage, user_id=OTHER, is_public=True)
    assert [t.name.startswith("flow_") for t in (*own.tools, *public.tools)] == [True, True]


@pytest.mark.parametrize(
    ("fields", "error", "reason"),
    [
        ({"user_id": OTHER, "is_public": False}, Forbidden, "private to its owner"),
        ({"user_id": OWNER, "status": FLOW_OFFLINE}, FlowOffline, "not online"),
        ({"user_id": OTHER, "is_public": True, "status": FLOW_OFFLINE}, FlowOffline, "not online"),
    ],
)
async def test_tool_flow_is_authorized_when_built(
    storage: StorageActor, fields: dict[str, Any], error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        await loaded_with_tool_flow(storage, **fields)


async def test_a_tool_flow_made_private_later_stops_the_assistant(storage: StorageActor) -> None:
    # Saved while the flow was public; the owner of the flow then makes it private.
    flow = flow_record(uuid.uuid4().hex, demo_graph(), user_id=OTHER)
    flow = dataclasses.replace(flow, is_public=True)
    await storage.put_flow(flow)
    assistant = assistant_with_tool(flow.id)
    await storage.create_assistant(assistant)
    loader = AppLoader(storage)
    app = await loader.load("assistant", assistant.id)
    await storage.put_flow(dataclasses.replace(flow, is_public=False))
    # The session's cheap check before each turn sees the change and rebuilds, which refuses.
    assert await loader.revision("assistant", assistant.id) != app.revision
    with pytest.raises(Forbidden):
        await loader.load("assistant", assistant.id)
    await storage.delete_flow(flow.id)
    with pytest.raises(FlowDeleted):
        await loader.load("assistant", assistant.id)


async def test_apps_are_built_on_the_configured_providers(storage: StorageActor) -> None:
    graph = demo_graph()
    graph["nodes"][3]["params"] = {"provider": "local", "model": "m"}
    flow = flow_record(uuid.uuid4().hex, graph)
    await storage.put_flow(flow)
    with pytest.raises(FlowInvalid, match="unknown model provider 'local'"):
        await AppLoader(storage).load("flow", flow.id)
    local = ProviderConfig(kind="openai", base_url="http://127.0.0.1:9/v1", models=("m",))
    host = SessionHost(SessionConfig(providers={"local": local}), storage)
    app = await host._apps.load("flow", flow.id)
    assert app.revision == "v1"


async def test_a_stored_flow_with_base_url_fails_its_session_clearly(
    storage: StorageActor,
) -> None:
    # Saved before providers existed (written straight to storage, as an old row would be).
    graph = demo_graph()
    graph["nodes"][3]["params"] = {"provider": "openai", "base_url": "http://attacker.example/v1"}
    flow = flow_record(uuid.uuid4().hex, graph)
    await storage.put_flow(flow)
    local = ProviderConfig(kind="openai", base_url="http://127.0.0.1:9/v1", models=("m",))
    host = SessionHost(SessionConfig(providers={"openai": local}), storage)
    with pytest.raises(FlowInvalid, match="node model: 'base_url' is set by the operator"):
        await host.watch(SessionKey(flow.id, "old-chat"), OWNER)
    assert await host.live_sessions() == 0  # nothing half-built stays behind
