"""Where the shared session hosts run: a fixed set anywhere, or hosts per live node.

A host is a `HostSlot`: its Ray actor name and, per node, the node it is pinned to. The
`HostDirectory` of an ingress replica knows the current slots (per node: re-read from the GCS's
node table every `NodePlacement.refresh_s`) and places a chat on one by rendezvous hashing, so a
node joining or leaving moves only the chats its hosts win or held. A pinned host whose calls
say it died is suspected: its node takes no chats until the GCS declares it dead (its slots
then leave the table) or `SUSPECT_S` passes (the host was restarted on a live node).

Replicas read the node table independently; while they disagree (at most `refresh_s` after a
change) a chat may be placed on two hosts by two replicas. Each rebuilds the session from
storage; docs/deploy.md "Placement across nodes" states the rule.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.config import NodePlacement
from actors.errors import ChatServiceError

log = logging.getLogger(__name__)
HOST_PREFIX = "raychat-session-host"
# A pinned host that died stays out of placement this long unless the GCS declares its node
# dead first (Ray's node health check: ~15 s with its defaults, docs/deploy.md "Node loss").
SUSPECT_S = 60.0
NODE_ID_CHARS = 12  # of a node's 56-hex-digit id in its hosts' names: unique enough, readable

NodeTable = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class HostSlot:
    """One shared session host: its actor name, the text it is hashed by, and the node it is
    pinned to (None: wherever Ray places it; restarted anywhere)."""

    name: str
    token: str
    node_id: str | None = None


def fixed_slots(hosts: int) -> list[HostSlot]:
    """The fixed set: `raychat-session-host-<i>`, hashed by its index (as before nodes)."""
    return [HostSlot(f"{HOST_PREFIX}-{i}", str(i)) for i in range(hosts)]


def eligible(node: Mapping[str, Any], placement: NodePlacement) -> bool:
    """Whether a node of Ray's node table (`ray.nodes()`) gets session hosts: alive, with the
    operator's resource (if one is set) and label (if one is set)."""
    if not node.get("Alive"):
        return False
    resource = placement.node_resource
    if resource and float((node.get("Resources") or {}).get(resource, 0)) <= 0:
        return False
    if placement.node_label:
        key, value = placement.node_label.split("=", 1)
        return bool((node.get("Labels") or {}).get(key) == value)
    return True


def node_slots(nodes: Sequence[Mapping[str, Any]], placement: NodePlacement) -> list[HostSlot]:
    """`hosts_per_node` slots on every eligible node, ordered by node id then index."""
    ids = sorted(str(n["NodeID"]) for n in nodes if eligible(n, placement))
    return [
        HostSlot(name, name, node_id)
        for node_id in ids
        for i in range(placement.hosts_per_node)
        for name in [f"{HOST_PREFIX}-{node_id[:NODE_ID_CHARS]}-{i}"]
    ]


def pick(chat: str, slots: Sequence[HostSlot]) -> HostSlot:
    """Rendezvous (highest-random-weight) hash: the slot with the highest hash of (slot, chat).
    Adding a slot moves only the chats it wins; removing one moves only the chats it held."""

    def weight(slot: HostSlot) -> int:
        digest = hashlib.blake2b(f"{slot.token}|{chat}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    return max(slots, key=weight)


def slot_options(slot: HostSlot) -> dict[str, Any]:
    """Ray actor options of a slot's host: no CPU reserved (sessions mostly wait on I/O); a
    pinned host runs on its node only (hard affinity: never restarted elsewhere)."""
    if slot.node_id is None:
        return {"num_cpus": 0}
    return {
        "num_cpus": 0,
        "scheduling_strategy": NodeAffinitySchedulingStrategy(slot.node_id, soft=False),
    }


# Ray's node table from the GCS (a blocking call: run it in a thread); Ray leaves it
# unannotated, its signature is declared once here.
read_node_table: Callable[[], NodeTable] = ray.nodes


class HostDirectory:
    """The shared session hosts one ingress replica places chats on.

    Coroutine-safe on one event loop (a refresh runs once at a time). A failed node-table read
    keeps the last slots (logged); with no eligible node `pick` raises ChatServiceError."""

    def __init__(
        self,
        hosts: int,
        placement: NodePlacement,
        read_nodes: Callable[[], NodeTable] = read_node_table,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._placement = placement
        self._read_nodes = read_nodes
        self._clock = clock
        self._slots = [] if placement.per_node else fixed_slots(hosts)
        self._read_at: float | None = None
        self._suspects: dict[str, float] = {}  # node id -> until when it takes no chats
        self._lock = asyncio.Lock()

    async def slots(self) -> list[HostSlot]:
        """Every current slot, suspected ones included (for reports and warm-up)."""
        if self._placement.per_node and self._stale():
            async with self._lock:
                if self._stale():
                    await self._refresh()
        return list(self._slots)

    async def pick(self, chat: str) -> HostSlot:
        """The slot of `chat` among the slots not suspected (all of them, if every one is).
        Raises ChatServiceError when no node is eligible for session hosts."""
        slots = await self.slots()
        now = self._clock()
        trusted = [s for s in slots if self._suspects.get(s.node_id or "", 0.0) <= now]
        if not (trusted or slots):
            raise ChatServiceError(
                "no live node is eligible for session hosts (RAYCHAT_HOST_NODE_RESOURCE / "
                "RAYCHAT_HOST_NODE_LABEL)"
            )
        return pick(chat, trusted or slots)

    def suspect(self, slot: HostSlot) -> bool:
        """A call said `slot`'s host died: when it is pinned, its node takes no chats for
        `SUSPECT_S` and the node table is read again on the next use. Returns whether the slot
        was pinned (a fixed host is restarted by Ray and keeps its chats)."""
        if slot.node_id is None:
            return False
        self._suspects[slot.node_id] = self._clock() + SUSPECT_S
        self._read_at = None
        return True

    def _stale(self) -> bool:
        return self._read_at is None or self._clock() - self._read_at >= self._placement.refresh_s

    async def _refresh(self) -> None:
        try:
            nodes = await asyncio.to_thread(self._read_nodes)
        except Exception as exc:  # keep placing on what we knew
            log.warning("node table unavailable: %s", exc)
            self._read_at = self._clock()
            return
        self._slots = node_slots(nodes, self._placement)
        self._read_at = now = self._clock()
        live = {s.node_id for s in self._slots}
        self._suspects = {n: t for n, t in self._suspects.items() if n in live and t > now}
