"""Flows (skills): create, change, delete, list — with the graph compiled before it is stored."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from typing import Any

from actors.config import RuntimeConfig
from actors.errors import NotFound
from actors.flows.chat_models import check_chat_model
from actors.flows.compiler import GraphLimits, compile_flow
from actors.ray.registry import Runtime
from actors.sessions.placement import check_placement, stored_placement
from serve_app.auth.access import access_flow_by_id
from serve_app.auth.tokens import Principal
from serve_app.observability.audit_log import audit_entry, record_audit
from serve_app.schemas.apps import FlowCreate, FlowUpdate
from serve_app.services.live_sessions import do_retire_sessions, live_sessions_of_app
from storage.records import FLOW_OFFLINE, FlowChanges, FlowRecord, Page


def _compile(data: dict[str, Any], config: RuntimeConfig, limits: GraphLimits) -> None:
    check_placement(data, config.placements)
    providers = config.sessions.providers
    compile_flow(data, model_factory=partial(check_chat_model, providers=providers), limits=limits)


async def check_flow_graph(runtime: Runtime, data: dict[str, Any]) -> None:
    """Compile the graph on the operator's providers within the configured graph limits
    (FlowInvalid, 422, names the failing node in `data.node_id`; an unknown provider or a
    `base_url` is refused) and check its placement names an operator profile. Off the event
    loop: a Retriever indexes its documents."""
    await asyncio.to_thread(_compile, data, runtime.config, _limits(runtime))


def _limits(runtime: Runtime) -> GraphLimits:
    return GraphLimits(runtime.config.flow_max_nodes, runtime.config.flow_max_edges)


async def do_create_flow(runtime: Runtime, user: Principal, body: FlowCreate) -> FlowRecord:
    """Store a new flow, offline (status 1), version 1, owned by the caller."""
    await check_flow_graph(runtime, body.data)
    flow = await runtime.storage.create_flow(
        FlowRecord(
            id=uuid.uuid4().hex,
            name=body.name,
            status=FLOW_OFFLINE,
            version=1,
            data=body.data,
            user_id=user.user_id,
            description=body.description,
            logo=body.logo,
            is_public=body.public,
        )
    )
    await record_audit(runtime, audit_entry(user.user_id, "flow.create", "flow", flow.id))
    return flow


async def do_update_flow(
    runtime: Runtime, user: Principal, flow_id: str, body: FlowUpdate
) -> FlowRecord:
    """PATCH the caller's flow; a new graph is compiled first and becomes a new version."""
    await access_flow_by_id(runtime, user, flow_id, write=True)
    if body.data is not None:
        await check_flow_graph(runtime, body.data)
    changes = FlowChanges(
        name=body.name,
        description=body.description,
        logo=body.logo,
        data=body.data,
        status=body.status,
        is_public=body.public,
    )
    flow = await runtime.storage.update_flow(flow_id, changes)
    if flow is None:  # deleted meanwhile
        raise NotFound("This flow does not exist", flow_id=flow_id)
    fields = sorted(body.model_dump(exclude_none=True))
    await record_audit(
        runtime, audit_entry(user.user_id, "flow.update", "flow", flow_id, fields=fields)
    )
    return flow


async def do_delete_flow(runtime: Runtime, user: Principal, flow_id: str) -> None:
    """Soft-delete the caller's flow and its sessions; stop their live session actors."""
    flow = await access_flow_by_id(runtime, user, flow_id, write=True)
    sessions = await live_sessions_of_app(runtime, flow_id)
    if not await runtime.storage.delete_flow(flow_id):
        raise NotFound("This flow does not exist", flow_id=flow_id)
    await record_audit(
        runtime, audit_entry(user.user_id, "flow.delete", "flow", flow_id, sessions=len(sessions))
    )
    await do_retire_sessions(runtime, user.user_id, sessions, stored_placement(flow.data))


async def list_flows(runtime: Runtime, user: Principal, page: int, limit: int) -> Page[FlowRecord]:
    """Flows the caller may see: their own and public ones; every flow for admins."""
    return await runtime.storage.list_flows(None if user.is_admin else user.user_id, page, limit)


def build_input_keys(flow: FlowRecord) -> dict[str, Any]:
    """What Bisheng's v2.3.0 `/build/stream` reports for a stored flow: one `input_keys` entry
    per Input node, the flow's input key first (the frontends take the first key of the entry
    as the key of every ask) and the node's `id` second. No graph is rebuilt."""
    nodes = flow.data.get("nodes") or []
    entries = [
        {str((node.get("params") or {}).get("key", "input")): "", "id": node.get("id")}
        for node in nodes
        if isinstance(node, dict) and node.get("type") == "Input"
    ]
    return {"input_keys": entries, "memory_keys": [], "handle_keys": []}
