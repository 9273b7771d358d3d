"""`--demo`: a demo user and an online demo flow on the `demo` model, idempotent across runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from actors.registry import RayStorageClient
from serve_app.access import FLOW_ONLINE
from serve_app.auth import Principal, issue_token
from storage.records import FlowRecord

DEMO_USER = "demo"
DEMO_FLOW_ID = uuid.uuid5(uuid.NAMESPACE_URL, "raychat:demo-flow").hex

DEMO_GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "in", "type": "Input", "params": {"key": "input"}},
        {
            "id": "prompt",
            "type": "ChatPrompt",
            "params": {"system": "You are a terse helper.", "template": "{input}"},
        },
        {"id": "memory", "type": "Memory", "params": {"turns": 10}},
        {"id": "model", "type": "ChatModel", "params": {"provider": "demo", "model": "echo"}},
        {"id": "out", "type": "Output"},
    ],
    "edges": [
        {"source": "in", "target": "prompt"},
        {"source": "memory", "target": "prompt"},
        {"source": "prompt", "target": "model"},
        {"source": "model", "target": "out"},
    ],
}


@dataclass(frozen=True)
class DemoData:
    """What `raychat serve --demo` prints."""

    user_id: int
    user_name: str
    flow_id: str
    token: str


async def install_demo(storage: RayStorageClient, jwt_secret: str, ttl_s: int) -> DemoData:
    """Create (or reuse) the demo user and flow; return their ids and a token."""
    user = await storage.ensure_user(DEMO_USER, "user")
    await storage.put_flow(
        FlowRecord(
            id=DEMO_FLOW_ID,
            name="Demo echo flow",
            status=FLOW_ONLINE,
            version=1,
            data=DEMO_GRAPH,
            user_id=user.id,
            description="Echoes the question (demo model)",
            is_public=True,
        )
    )
    token = issue_token(jwt_secret, Principal(user.id, user.user_name, user.role), ttl_s)
    return DemoData(user.id, user.user_name, DEMO_FLOW_ID, token)
