"""`--demo`: a demo user, an online demo flow and an online demo assistant on the `demo` model,
idempotent across runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from actors.flows.demo_graph import demo_graph, demo_model
from actors.ray.storage_client import RayStorageClient
from serve_app.auth.tokens import Principal, issue_token
from storage.records import FLOW_ONLINE, AssistantRecord, FlowRecord

DEMO_USER = "demo"
DEMO_FLOW_ID = uuid.uuid5(uuid.NAMESPACE_URL, "raychat:demo-flow").hex
DEMO_ASSISTANT_ID = uuid.uuid5(uuid.NAMESPACE_URL, "raychat:demo-assistant").hex


@dataclass(frozen=True)
class DemoData:
    """What `raychat serve --demo` prints."""

    user_id: int
    user_name: str
    flow_id: str
    assistant_id: str
    token: str


async def install_demo(storage: RayStorageClient, jwt_secret: str, ttl_s: int) -> DemoData:
    """Create (or reuse) the demo user and flow; return their ids and a token."""
    user = await storage.ensure_user(DEMO_USER, "user", password_hash="")  # no password: no login
    await storage.put_flow(
        FlowRecord(
            id=DEMO_FLOW_ID,
            name="Demo echo flow",
            status=FLOW_ONLINE,
            version=1,
            data=demo_graph(),
            user_id=user.id,
            description="Echoes the question (demo model)",
            is_public=True,
        )
    )
    if await storage.get_assistant(DEMO_ASSISTANT_ID) is None:
        await storage.create_assistant(
            AssistantRecord(
                id=DEMO_ASSISTANT_ID,
                name="Demo assistant",
                user_id=user.id,
                status=FLOW_ONLINE,
                prompt="You are a helpful assistant.",
                is_public=True,
                model=demo_model(),
                tools=["calculator", "current_time"],
                guide_word="Ask me anything: I echo it back (demo model).",
            )
        )
    token = issue_token(jwt_secret, Principal(user.id, user.user_name, user.role), ttl_s)
    return DemoData(user.id, user.user_name, DEMO_FLOW_ID, DEMO_ASSISTANT_ID, token)
