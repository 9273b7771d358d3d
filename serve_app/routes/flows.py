"""Flows (skills): the app registry's graphs (API.md §2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from serve_app.auth.access import access_flow_by_id
from serve_app.deps import CurrentUser, RuntimeDep
from serve_app.schemas.apps import FlowCreate, FlowPublic, FlowUpdate, FlowVersionPublic
from serve_app.schemas.envelope import INVALID, OBJECT_ERRORS, UNAUTHORIZED, Envelope, PageOf, ok
from serve_app.schemas.text import SafeStr
from serve_app.services.flows import do_create_flow, do_delete_flow, do_update_flow, list_flows

router = APIRouter(prefix="/api/v1/flows", tags=["flows"], responses=UNAUTHORIZED)
FlowId = Annotated[SafeStr, Path(min_length=1, max_length=64, description="uuid hex")]


@router.post("", responses=INVALID)
async def create_flow(
    runtime: RuntimeDep, user: CurrentUser, body: FlowCreate
) -> Envelope[FlowPublic]:
    """Register a flow; it starts offline (`status` 1). A graph that does not compile, or a bad
    `placement`, is refused with 422 and the failing node's id in `data.node_id`."""
    return ok(FlowPublic.of(await do_create_flow(runtime, user, body)))


@router.get("", responses=INVALID)
async def get_flows(
    runtime: RuntimeDep,
    user: CurrentUser,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Envelope[PageOf[FlowPublic]]:
    """Flows the caller may see (own and public; all for admins), last updated first."""
    found = await list_flows(runtime, user, page, limit)
    return ok(PageOf(list=[FlowPublic.of(f) for f in found.items], total=found.total))


@router.get("/{flow_id}", responses=OBJECT_ERRORS)
async def get_flow(runtime: RuntimeDep, user: CurrentUser, flow_id: FlowId) -> Envelope[FlowPublic]:
    """One flow with its graph."""
    return ok(FlowPublic.of(await access_flow_by_id(runtime, user, flow_id)))


@router.get("/{flow_id}/versions", responses=OBJECT_ERRORS)
async def get_flow_versions(
    runtime: RuntimeDep, user: CurrentUser, flow_id: FlowId
) -> Envelope[list[FlowVersionPublic]]:
    """Every stored graph of a flow, oldest first."""
    await access_flow_by_id(runtime, user, flow_id)
    versions = await runtime.storage.flow_versions(flow_id)
    return ok([FlowVersionPublic.model_validate(v, from_attributes=True) for v in versions])


@router.patch("/{flow_id}", responses=OBJECT_ERRORS)
async def update_flow(
    runtime: RuntimeDep, user: CurrentUser, flow_id: FlowId, body: FlowUpdate
) -> Envelope[FlowPublic]:
    """Change any of `name, description, logo, data, status, public` of the caller's flow;
    `status` 2 = online, 1 = offline; a new `data` is compiled and becomes a new version."""
    return ok(FlowPublic.of(await do_update_flow(runtime, user, flow_id, body)))


@router.delete("/{flow_id}", responses=OBJECT_ERRORS)
async def delete_flow(runtime: RuntimeDep, user: CurrentUser, flow_id: FlowId) -> Envelope[None]:
    """Soft-delete the caller's flow; its sessions are soft-deleted and their live session
    actors stopped."""
    await do_delete_flow(runtime, user, flow_id)
    return ok(None)
