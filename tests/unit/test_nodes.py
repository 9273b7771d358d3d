"""Placement of shared session hosts: a fixed set, or hosts per eligible live node, chats placed
by rendezvous hashing over the live hosts (actors/ray/nodes.py). The node table is Ray's shape
(`ray.nodes()`); the multi-node integration test reads the real one."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from actors.config import NodePlacement
from actors.errors import ChatServiceError
from actors.ray.nodes import (
    SUSPECT_S,
    HostDirectory,
    NodeTable,
    eligible,
    fixed_slots,
    node_slots,
    pick,
    slot_options,
)
from serve_app.settings import Settings

CHATS = [f"flow|chat-{i}" for i in range(400)]


def node(node_id: str, alive: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "NodeID": node_id,
        "Alive": alive,
        "Resources": extra.get("resources", {"CPU": 2.0}),
        "Labels": extra.get("labels", {}),
    }


class Table:
    """A node table that the test changes between reads, counting reads."""

    def __init__(self, nodes: NodeTable) -> None:
        self.nodes = nodes
        self.reads = 0
        self.fail = False

    def __call__(self) -> NodeTable:
        self.reads += 1
        if self.fail:
            raise ConnectionError("GCS unreachable")
        return list(self.nodes)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eligible_nodes_are_alive_and_have_the_resource_and_label() -> None:
    any_node = NodePlacement(hosts_per_node=1)
    assert eligible(node("a"), any_node) and not eligible(node("a", alive=False), any_node)
    by_resource = NodePlacement(hosts_per_node=1, node_resource="raychat_host")
    assert eligible(node("a", resources={"raychat_host": 1.0}), by_resource)
    assert not eligible(node("a", resources={"raychat_host": 0.0}), by_resource)
    assert not eligible(node("a"), by_resource)
    by_label = NodePlacement(hosts_per_node=1, node_label="role=sessions")
    assert eligible(node("a", labels={"role": "sessions"}), by_label)
    assert not eligible(node("a", labels={"role": "gpu"}), by_label)
    assert not eligible(node("a"), by_label)


def test_node_slots_are_per_eligible_node_named_by_node_and_pinned() -> None:
    placement = NodePlacement(hosts_per_node=2, node_resource="raychat_host")
    nodes = [
        node("b" * 56, resources={"raychat_host": 1.0}),
        node("a" * 56, resources={"raychat_host": 1.0}),
        node("c" * 56),  # no resource: no hosts
        node("d" * 56, alive=False, resources={"raychat_host": 1.0}),
    ]
    slots = node_slots(nodes, placement)
    assert [s.name for s in slots] == [
        f"raychat-session-host-{'a' * 12}-0",
        f"raychat-session-host-{'a' * 12}-1",
        f"raychat-session-host-{'b' * 12}-0",
        f"raychat-session-host-{'b' * 12}-1",
    ]
    assert [s.node_id for s in slots] == ["a" * 56] * 2 + ["b" * 56] * 2
    options = slot_options(slots[0])
    strategy = options["scheduling_strategy"]
    assert options["num_cpus"] == 0 and strategy.node_id == "a" * 56 and strategy.soft is False
    assert slot_options(fixed_slots(1)[0]) == {"num_cpus": 0}


def test_losing_a_node_moves_only_its_chats_and_adding_one_moves_only_what_it_wins() -> None:
    placement = NodePlacement(hosts_per_node=2)
    three = node_slots([node("n1"), node("n2"), node("n3")], placement)
    two = node_slots([node("n1"), node("n2")], placement)
    before = {c: pick(c, three) for c in CHATS}
    after = {c: pick(c, two) for c in CHATS}
    moved = {c for c in CHATS if before[c] != after[c]}
    assert moved == {c for c in CHATS if before[c].node_id == "n3"}
    assert len(moved) > len(CHATS) // 6  # n3 held about a third; the hash spreads chats
    assert {s.node_id for s in after.values()} == {"n1", "n2"}
    # Adding n3 back moves exactly those chats back.
    assert {c for c in CHATS if pick(c, three) != after[c]} == moved


def test_the_fixed_set_keeps_its_names_and_placement() -> None:
    slots = fixed_slots(3)
    assert [s.name for s in slots] == [f"raychat-session-host-{i}" for i in range(3)]
    assert {s.node_id for s in slots} == {None}
    assert len({pick(c, slots).name for c in CHATS}) == 3


async def test_the_directory_rereads_the_node_table_after_its_refresh_interval() -> None:
    table, clock = Table([node("n1"), node("n2")]), Clock()
    directory = HostDirectory(1, NodePlacement(hosts_per_node=1, refresh_s=5), table, clock)
    assert {s.node_id for s in await directory.slots()} == {"n1", "n2"}
    table.nodes = [node("n1"), node("n2", alive=False), node("n3")]
    clock.now += 4.9
    assert {s.node_id for s in await directory.slots()} == {"n1", "n2"} and table.reads == 1
    clock.now += 0.1
    assert {s.node_id for s in await directory.slots()} == {"n1", "n3"} and table.reads == 2


async def test_the_fixed_directory_never_reads_the_node_table() -> None:
    table = Table([node("n1")])
    directory = HostDirectory(2, NodePlacement(), table, Clock())
    assert [s.name for s in await directory.slots()] == [s.name for s in fixed_slots(2)]
    assert await directory.pick("flow|chat") in fixed_slots(2) and table.reads == 0
    assert directory.suspect(fixed_slots(2)[0]) is False


async def test_a_suspected_node_takes_no_chats_until_it_is_gone_or_the_suspicion_ends() -> None:
    table, clock = Table([node("n1"), node("n2")]), Clock()
    directory = HostDirectory(1, NodePlacement(hosts_per_node=1, refresh_s=5), table, clock)
    on_n2 = [c for c in CHATS if (await directory.pick(c)).node_id == "n2"]
    slot = await directory.pick(on_n2[0])
    assert directory.suspect(slot) is True
    assert {(await directory.pick(c)).node_id for c in on_n2} == {"n1"}
    assert table.reads == 2  # suspicion re-reads the table at once
    clock.now += SUSPECT_S
    assert (await directory.pick(on_n2[0])).node_id == "n2"  # restarted on a live node


async def test_every_node_suspected_still_places_chats_and_no_eligible_node_is_an_error() -> None:
    table, clock = Table([node("n1")]), Clock()
    directory = HostDirectory(1, NodePlacement(hosts_per_node=1), table, clock)
    directory.suspect(await directory.pick("flow|chat"))
    assert (await directory.pick("flow|chat")).node_id == "n1"
    table.nodes = [node("n1", alive=False)]
    clock.now += 10
    with pytest.raises(ChatServiceError, match="no live node is eligible"):
        await directory.pick("flow|chat")


async def test_a_failed_table_read_keeps_the_last_slots() -> None:
    table, clock = Table([node("n1"), node("n2")]), Clock()
    directory = HostDirectory(1, NodePlacement(hosts_per_node=1, refresh_s=1), table, clock)
    first = await directory.slots()
    table.fail, clock.now = True, clock.now + 2
    assert await directory.slots() == first and table.reads == 2


def test_settings_reach_the_node_placement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYCHAT_HOSTS_PER_NODE", "3")
    monkeypatch.setenv("RAYCHAT_HOST_NODE_RESOURCE", "raychat_host")
    monkeypatch.setenv("RAYCHAT_HOST_NODE_LABEL", "role=sessions")
    monkeypatch.setenv("RAYCHAT_NODE_REFRESH_S", "2.5")
    monkeypatch.setenv("RAYCHAT_STORAGE_NODE_RESOURCE", "raychat_ingress")
    placement = Settings().runtime_config().nodes
    assert placement == NodePlacement(
        hosts_per_node=3,
        node_resource="raychat_host",
        node_label="role=sessions",
        refresh_s=2.5,
        storage_resource="raychat_ingress",
    )
    assert placement.per_node and not Settings(hosts_per_node=0).runtime_config().nodes.per_node


@pytest.mark.parametrize("label", ["role", "=x", "a=b=c"])
def test_a_node_label_must_be_key_equals_value(label: str) -> None:
    with pytest.raises(ValidationError, match="key=value"):
        NodePlacement(hosts_per_node=1, node_label=label)
