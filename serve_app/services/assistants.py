"""Assistants: create, change, delete — with the model and tools built before they are stored."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from actors.errors import FlowInvalid, Forbidden, InvalidInput, NotFound
from actors.flows.chat_models import Providers, check_chat_model
from actors.flows.tools import ToolInput, build_tools, knowledge_name
from actors.ray.registry import Runtime
from serve_app.auth.access import access_assistant_by_id, access_flow_by_id
from serve_app.auth.tokens import Principal
from serve_app.observability.audit_log import audit_entry, record_audit
from serve_app.schemas.apps import (
    AssistantCreate,
    AssistantInfoPublic,
    AssistantPublic,
    AssistantUpdate,
    FlowItem,
    KnowledgeItem,
    ToolItem,
)
from serve_app.services.live_sessions import do_retire_sessions, live_sessions_of_app
from storage.records import FLOW_OFFLINE, AssistantChanges, AssistantRecord, FlowRecord, Page

MODEL_PREFIX = "node model: "


def flow_ids_of(tools: Sequence[str]) -> list[str]:
    """The flow ids named by `flow:<flow_id>` tool specs, in order."""
    ids = []
    for spec in tools:
        kind, _, argument = spec.strip().partition(":")
        if kind == "flow" and argument.strip():
            ids.append(argument.strip())
    return ids


async def check_tool_flows(runtime: Runtime, user: Principal, tools: Sequence[str]) -> None:
    """Every `flow:<id>` tool names a live flow the caller may read (their own, public, or any
    for admins). InvalidInput for a missing flow, Forbidden for another user's private one."""
    for flow_id in flow_ids_of(tools):
        try:
            await access_flow_by_id(runtime, user, flow_id)
        except NotFound:
            raise InvalidInput(
                f"tool 'flow:{flow_id}': the flow does not exist", tool=f"flow:{flow_id}"
            ) from None
        except Forbidden:
            raise Forbidden(
                f"tool 'flow:{flow_id}': no permission to use this flow", tool=f"flow:{flow_id}"
            ) from None


def _placeholder_flow_tool(flow_id: str) -> BaseTool:
    # Only names matter when validating (duplicate detection); the session builds the real tool.
    return StructuredTool.from_function(
        func=lambda input: "",
        name=f"flow_{flow_id}",
        description="flow tool",
        args_schema=ToolInput,
    )


def _build(model: dict[str, Any], tools: Sequence[str], providers: Providers) -> None:
    try:
        check_chat_model(model, "model", providers)
    except FlowInvalid as exc:
        reason = exc.message.removeprefix(MODEL_PREFIX)
        raise InvalidInput(f"model: {reason}", field="model") from None
    build_tools(list(tools), flow_tool=_placeholder_flow_tool)


async def check_assistant(
    runtime: Runtime, user: Principal, model: dict[str, Any], tools: Sequence[str]
) -> None:
    """The model params name an operator provider and an allowed model, with model-level params
    only, and the tool specs build tools (422 saying which one is wrong); flow tools must be
    usable by the caller."""
    await check_tool_flows(runtime, user, tools)
    await asyncio.to_thread(_build, model, tools, runtime.config.sessions.providers)


async def do_create_assistant(
    runtime: Runtime, user: Principal, body: AssistantCreate
) -> AssistantRecord:
    """Store a new assistant, offline (status 1), owned by the caller."""
    await check_assistant(runtime, user, body.model, body.tools)
    assistant = await runtime.storage.create_assistant(
        AssistantRecord(
            id=uuid.uuid4().hex,
            name=body.name,
            prompt=body.prompt,
            model=body.model,
            user_id=user.user_id,
            tools=list(body.tools),
            guide_word=body.guide_word,
            status=FLOW_OFFLINE,
            description=body.description,
            logo=body.logo,
            is_public=body.public,
        )
    )
    await record_audit(
        runtime, audit_entry(user.user_id, "assistant.create", "assistant", assistant.id)
    )
    return assistant


async def do_update_assistant(
    runtime: Runtime, user: Principal, assistant_id: str, body: AssistantUpdate
) -> AssistantRecord:
    """PATCH the caller's assistant; a changed model or tool list is checked as a whole."""
    current = await access_assistant_by_id(runtime, user, assistant_id, write=True)
    if body.model is not None or body.tools is not None:
        model = current.model if body.model is None else body.model
        tools = current.tools if body.tools is None else body.tools
        await check_assistant(runtime, user, model, tools)
    changes = AssistantChanges(**_changed_fields(body))
    assistant = await runtime.storage.update_assistant(assistant_id, changes)
    if assistant is None:  # deleted meanwhile
        raise NotFound("This assistant does not exist", assistant_id=assistant_id)
    await record_audit(
        runtime,
        audit_entry(
            user.user_id,
            "assistant.update",
            "assistant",
            assistant_id,
            fields=sorted(body.model_dump(exclude_none=True)),
        ),
    )
    return assistant


def _changed_fields(body: AssistantUpdate) -> dict[str, Any]:
    fields = body.model_dump(exclude_none=True)
    if "public" in fields:
        fields["is_public"] = fields.pop("public")
    return fields


async def do_delete_assistant(runtime: Runtime, user: Principal, assistant_id: str) -> None:
    """Soft-delete the caller's assistant and its sessions; stop their live session actors."""
    await access_assistant_by_id(runtime, user, assistant_id, write=True)
    sessions = await live_sessions_of_app(runtime, assistant_id)
    if not await runtime.storage.delete_assistant(assistant_id):
        raise NotFound("This assistant does not exist", assistant_id=assistant_id)
    await record_audit(
        runtime,
        audit_entry(
            user.user_id, "assistant.delete", "assistant", assistant_id, sessions=len(sessions)
        ),
    )
    await do_retire_sessions(runtime, user.user_id, sessions, None)


async def list_assistants(
    runtime: Runtime, user: Principal, page: int, limit: int
) -> Page[AssistantRecord]:
    """Assistants the caller may see: their own and public ones; all of them for admins."""
    user_id = None if user.is_admin else user.user_id
    return await runtime.storage.list_assistants(user_id, page, limit)


TOOL_DESCRIPTIONS = {
    "calculator": "Evaluates an arithmetic expression.",
    "current_time": "The current date and time in UTC.",
}


async def assistant_info(
    runtime: Runtime, user: Principal, assistant_id: str
) -> AssistantInfoPublic:
    """The assistant (read access as `GET /assistant/{id}`) with Bisheng's `tool_list`,
    `flow_list` and `knowledge_list` built from its tool specs. A tool flow the caller may not
    read, or one that is gone, is left out (Bisheng's frontends then show "deleted")."""
    assistant = await access_assistant_by_id(runtime, user, assistant_id)
    tools: list[ToolItem] = []
    flows: list[FlowItem] = []
    knowledge: list[KnowledgeItem] = []
    for index, spec in enumerate(assistant.tools, start=1):
        kind, _, argument = str(spec).strip().partition(":")
        if kind in TOOL_DESCRIPTIONS:
            tools.append(
                ToolItem(id=index, name=kind, tool_key=kind, description=TOOL_DESCRIPTIONS[kind])
            )
        elif kind == "flow":
            flow = await _readable_flow(runtime, user, argument.strip())
            if flow is not None:
                flows.append(
                    FlowItem(
                        id=flow.id,
                        name=flow.name,
                        description=flow.description,
                        logo=flow.logo,
                        status=flow.status,
                    )
                )
        elif kind == "knowledge":
            name = _knowledge_tool_name(argument)
            knowledge.append(KnowledgeItem(id=name, name=name))
    base = AssistantPublic.of(assistant).model_dump()
    return AssistantInfoPublic(**base, tool_list=tools, flow_list=flows, knowledge_list=knowledge)


async def _readable_flow(runtime: Runtime, user: Principal, flow_id: str) -> FlowRecord | None:
    try:
        return await access_flow_by_id(runtime, user, flow_id)
    except (NotFound, Forbidden):
        return None


def _knowledge_tool_name(argument: str) -> str:
    try:
        documents = json.loads(argument)
    except ValueError:
        return argument
    return knowledge_name(documents) if isinstance(documents, list) else argument
