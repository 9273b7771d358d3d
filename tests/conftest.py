"""Shared test helpers: graphs and an in-process storage actor on a temporary SQLite file."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from actors.config import StorageConfig
from actors.storage_actor.actor import StorageActor
from storage.records import FlowRecord

ONLINE = 2


def demo_graph(**model_params: Any) -> dict[str, Any]:
    """The FLOWS.md example graph on the demo model, with optional model params."""
    params = {"provider": "demo", "model": "echo", "tokens_per_second": 0, **model_params}
    return {
        "nodes": [
            {"id": "in", "type": "Input", "params": {"key": "input"}},
            {
                "id": "prompt",
                "type": "ChatPrompt",
                "params": {"system": "You are a terse helper.", "template": "{input}"},
            },
            {"id": "memory", "type": "Memory", "params": {"turns": 10}},
            {"id": "model", "type": "ChatModel", "params": params},
            {"id": "out", "type": "Output"},
        ],
        "edges": [
            {"source": "in", "target": "prompt"},
            {"source": "memory", "target": "prompt"},
            {"source": "prompt", "target": "model"},
            {"source": "model", "target": "out"},
        ],
    }


def flow_record(
    flow_id: str = "f" * 32, graph: dict[str, Any] | None = None, user_id: int = 1
) -> FlowRecord:
    return FlowRecord(
        id=flow_id,
        name="test flow",
        status=ONLINE,
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
