"""A local multi-node Ray cluster's pieces shared by the multi-node test
(tests/integration/test_multinode.py) and bench/scale.py: Ray's health-check settings, losing a
node as a machine is lost, and a PostgreSQL database of the run's own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
from ray._private import ray_constants
from ray.cluster_utils import Cluster

from bench.procstat import processes

# Ray declares a node dead after its health checks fail (defaults: every 3 s, 5 failures); these
# runs use a shorter check so the node's loss is declared in ~2 s, docs/deploy.md "Node loss".
SYSTEM_CONFIG = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}


def raylet_pid(node: Any) -> int:
    """The pid of a `ray._private.node.Node`'s raylet (Ray leaves `Node` untyped)."""
    pid: int = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
    return pid


def lose(cluster: Cluster, node: Any) -> None:
    """Lose `node` as a machine is lost: SIGKILL its worker processes (the actors on it: they
    would otherwise outlive their raylet for a while) and, with `remove_node`, its raylet and
    the rest of its processes; nothing stops cleanly. Blocking."""
    raylet = raylet_pid(node)
    workers = [pid for pid, parent in processes() if parent == raylet]  # the raylet's children
    assert workers, "the node runs no worker process"
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    cluster.remove_node(node, allow_graceful=False)


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own (`<prefix>_<random>`, created through `admin_url`), its
    URL yielded, dropped (connections forced out) on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
