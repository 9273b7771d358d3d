"""Session placement compared in one run: virtual sessions inside a SessionHost actor vs one Ray
actor per session (the `dedicated` placement).

    python bench/placement.py [--hosted 2000] [--dedicated 16]

Both placements run the same SessionActor with the demo flow, activated against a real storage
actor (SQLite in a temp dir). Memory is read from /proc/<pid>/smaps_rollup (RSS and USS, i.e.
private pages). Prints per-session memory and creation time, and their ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
from ray.actor import ActorHandle, ActorProxy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.config import SessionConfig, StorageConfig
from actors.flows.demo_graph import demo_graph
from actors.ray.registry import storage_actor
from actors.ray.storage_client import RayStorageClient
from actors.sessions.host import SessionHost
from actors.sessions.session import SessionKey
from storage.records import FLOW_ONLINE, FlowRecord

NAMESPACE = "raychat-bench"
FLOW_ID = "b" * 32


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, USS) of a process in KiB."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1])
    return fields["Rss"], fields["Private_Clean"] + fields["Private_Dirty"]


class BenchHost(SessionHost):
    """A SessionHost that can report its pid and activate sessions in bulk."""

    def __init__(self, storage_handle: Any) -> None:
        super().__init__(SessionConfig(), RayStorageClient(storage_handle))

    # `@ray.method` is how Ray types `handle.pid.remote()` (docs.ray.io, "Type hints in Ray").
    @ray.method
    def pid(self) -> int:
        return os.getpid()

    @ray.method
    async def activate_many(self, start: int, count: int) -> int:
        keys = [SessionKey(FLOW_ID, f"chat-{i}") for i in range(start, start + count)]
        for chunk in range(0, len(keys), 200):
            await asyncio.gather(*(self._session(k, 1) for k in keys[chunk : chunk + 200]))
        return await self.live_sessions()


def handle_of(proxy: ActorProxy[BenchHost]) -> ActorHandle[BenchHost]:
    """The handle `.remote()` returned: Ray types it `ActorHandle[T] | type[T]` (the class arm types
    the `@ray.method` calls); `ray.kill` takes the handle."""
    assert isinstance(proxy, ActorHandle)
    return proxy


def hosted(storage: Any, sessions: int) -> tuple[float, float]:
    """KiB of host RSS per session and seconds per activation."""
    host = ray.remote(BenchHost).options(num_cpus=0, max_concurrency=1000).remote(storage)
    pid = ray.get(host.pid.remote())
    ray.get(host.activate_many.remote(0, 10))  # import/compile warm-up
    before, _ = memory_kb(pid)
    started = time.perf_counter()
    ray.get(host.activate_many.remote(10, sessions))
    elapsed = time.perf_counter() - started
    after, _ = memory_kb(pid)
    ray.kill(handle_of(host))
    return (after - before) / sessions, elapsed / sessions


def dedicated(storage: Any, actors: int) -> tuple[float, float, float]:
    """Mean RSS, USS (KiB) per dedicated actor; seconds per actor until its session is live."""
    started = time.perf_counter()
    handles = [ray.remote(BenchHost).options(num_cpus=0).remote(storage) for _ in range(actors)]
    ray.get([h.activate_many.remote(i, 1) for i, h in enumerate(handles)])
    elapsed = time.perf_counter() - started
    mems = [memory_kb(pid) for pid in ray.get([h.pid.remote() for h in handles])]
    for h in handles:
        ray.kill(handle_of(h))
    return (sum(m[0] for m in mems) / actors, sum(m[1] for m in mems) / actors, elapsed / actors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosted", type=int, default=2000)
    parser.add_argument("--dedicated", type=int, default=16)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        storage = storage_actor(StorageConfig(database_url=f"sqlite:///{tmp}/bench.db"), NAMESPACE)
        ray.get(
            storage.put_flow.remote(
                FlowRecord(
                    id=FLOW_ID,
                    name="bench",
                    status=FLOW_ONLINE,
                    version=1,
                    data=demo_graph(),
                    user_id=1,
                )
            )
        )
        h_kb, h_s = hosted(storage, args.hosted)
        d_rss, d_uss, d_s = dedicated(storage, args.dedicated)
        ray.kill(storage)
    ray.shutdown()
    print(f"{'placement':<22}{'KiB/session':>14}{'ms/session':>12}")
    print(f"{'hosted (virtual)':<22}{h_kb:>14.1f}{h_s * 1000:>12.2f}")
    print(f"{'dedicated (USS)':<22}{d_uss:>14.0f}{d_s * 1000:>12.1f}")
    print(f"{'dedicated (RSS)':<22}{d_rss:>14.0f}")
    print(
        f"dedicated / hosted: memory {d_uss / max(h_kb, 0.01):.0f}x (USS), "
        f"creation {d_s / h_s:.0f}x"
    )


if __name__ == "__main__":
    main()
