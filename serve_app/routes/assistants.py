"""Assistants: the app registry's tool-calling agents (API.md §2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from serve_app.auth.access import access_assistant_by_id
from serve_app.deps import CurrentUser, RuntimeDep
from serve_app.schemas.apps import (
    AssistantCreate,
    AssistantInfoPublic,
    AssistantPublic,
    AssistantUpdate,
)
from serve_app.schemas.envelope import (
    FORBIDDEN,
    INVALID,
    OBJECT_ERRORS,
    UNAUTHORIZED,
    Envelope,
    PageOf,
    ok,
)
from serve_app.schemas.text import SafeStr
from serve_app.services.assistants import (
    assistant_info,
    do_create_assistant,
    do_delete_assistant,
    do_update_assistant,
    list_assistants,
)

router = APIRouter(prefix="/api/v1/assistant", tags=["assistants"], responses=UNAUTHORIZED)
AssistantId = Annotated[SafeStr, Path(min_length=1, max_length=64, description="uuid hex")]


@router.post("", responses={**INVALID, **FORBIDDEN})
async def create_assistant(
    runtime: RuntimeDep, user: CurrentUser, body: AssistantCreate
) -> Envelope[AssistantPublic]:
    """Register an assistant; it starts offline (`status` 1). `model` must build a chat model
    and `tools` must build tools (422 naming the bad one); a `flow:<id>` tool must be a flow
    the caller may read (403 otherwise)."""
    return ok(AssistantPublic.of(await do_create_assistant(runtime, user, body)))


@router.get("", responses=INVALID)
async def get_assistants(
    runtime: RuntimeDep,
    user: CurrentUser,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Envelope[PageOf[AssistantPublic]]:
    """Assistants the caller may see (own and public; all for admins), last updated first."""
    found = await list_assistants(runtime, user, page, limit)
    return ok(PageOf(list=[AssistantPublic.of(a) for a in found.items], total=found.total))


@router.get("/{assistant_id}", responses=OBJECT_ERRORS)
async def get_assistant(
    runtime: RuntimeDep, user: CurrentUser, assistant_id: AssistantId
) -> Envelope[AssistantPublic]:
    """One assistant."""
    return ok(AssistantPublic.of(await access_assistant_by_id(runtime, user, assistant_id)))


@router.get("/info/{assistant_id}", responses=OBJECT_ERRORS)
async def get_assistant_info(
    runtime: RuntimeDep, user: CurrentUser, assistant_id: AssistantId
) -> Envelope[AssistantInfoPublic]:
    """Bisheng's assistant detail (API.md §4.5): the assistant with `tool_list`, `flow_list`
    and `knowledge_list`, which Bisheng's frontends label tool cards from."""
    return ok(await assistant_info(runtime, user, assistant_id))


@router.patch("/{assistant_id}", responses=OBJECT_ERRORS)
async def update_assistant(
    runtime: RuntimeDep, user: CurrentUser, assistant_id: AssistantId, body: AssistantUpdate
) -> Envelope[AssistantPublic]:
    """Change fields of the caller's assistant; `status` 2 = online, 1 = offline."""
    return ok(AssistantPublic.of(await do_update_assistant(runtime, user, assistant_id, body)))


@router.delete("/{assistant_id}", responses=OBJECT_ERRORS)
async def delete_assistant(
    runtime: RuntimeDep, user: CurrentUser, assistant_id: AssistantId
) -> Envelope[None]:
    """Soft-delete the caller's assistant; its sessions are soft-deleted and their live
    session actors stopped."""
    await do_delete_assistant(runtime, user, assistant_id)
    return ok(None)
