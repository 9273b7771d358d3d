"""Shared test helpers: graphs and an in-process storage actor on a temporary SQLite file."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from actors.config import StorageConfig
from actors.flows.demo_graph import demo_graph as canonical_demo_graph
from actors.storage_actor.actor import StorageActor
from storage.records import FLOW_ONLINE, FlowRecord


def demo_graph(**model_params: Any) -> dict[str, Any]:
    """The demo graph (`actors.flows.demo_graph`) streaming at once, with optional model params."""
    return canonical_demo_graph(**{"tokens_per_second": 0, **model_params})


def flow_record(
    flow_id: str = "f" * 32, graph: dict[str, Any] | None = None, user_id: int = 1
) -> FlowRecord:
    return FlowRecord(
        id=flow_id,
        name="test flow",
        status=FLOW_ONLINE,
        version=1,
        data=copy.deepcopy(graph or demo_graph()),
        user_id=user_id,
    )


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[StorageActor]:
    """A real StorageActor (no Ray) on a fresh SQLite file."""
    actor = StorageActor(
        StorageConfig(database_url=f"sqlite:///{tmp_path / 'chat.db'}", batch_max_delay_ms=2)
    )
    await actor.ping()
    yield actor
    await actor.shutdown()
