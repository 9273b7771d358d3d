"""Bisheng v2.3.0's skill build handshake (API.md §4.5): `POST /build/init/{flow_id}` then the
SSE stream `GET /build/stream/{flow_id}`, which tells the frontends the flow's input key. Both
answer for the stored flow (read access as `GET /api/v1/flows/{id}`); nothing is rebuilt from the
request body, which is accepted and ignored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import StreamingResponse

from serve_app.auth.access import access_flow_by_id
from serve_app.deps import CurrentUser, RuntimeDep
from serve_app.schemas.envelope import OBJECT_ERRORS, UNAUTHORIZED, Envelope, ok
from serve_app.schemas.text import SafeStr
from serve_app.services.flows import build_input_keys

router = APIRouter(prefix="/api/v1/build", tags=["bisheng"], responses=UNAUTHORIZED)
FlowId = Annotated[SafeStr, Path(min_length=1, max_length=64)]


def sse_event(data: dict[str, Any], event: str = "message") -> str:
    """One server-sent event; `message` is what an EventSource's `onmessage` receives."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/init/{flow_id}", responses=OBJECT_ERRORS)
async def init_build(
    runtime: RuntimeDep,
    user: CurrentUser,
    flow_id: FlowId,
    body: Annotated[Any, Body()] = None,
    version_id: Annotated[int | None, Query(ge=1)] = None,
) -> Envelope[dict[str, str]]:
    """`{"flowId"}` for a flow the caller may read (the frontends send `{chat_id}` or the whole
    flow; both are ignored: the stored flow is what chats run)."""
    flow = await access_flow_by_id(runtime, user, flow_id)
    return ok({"flowId": flow.id})


@router.get("/stream/{flow_id}", response_class=StreamingResponse, responses=OBJECT_ERRORS)
async def stream_build(
    runtime: RuntimeDep,
    user: CurrentUser,
    flow_id: FlowId,
    chat_id: Annotated[SafeStr | None, Query(max_length=64)] = None,
    version_id: Annotated[int | None, Query(ge=1)] = None,
) -> StreamingResponse:
    """SSE: one `message` event with `{input_keys: [{<key>: "", id: <node id>}], memory_keys,
    handle_keys}`, then `{end_of_stream: true}`; errors before the stream as an envelope."""
    flow = await access_flow_by_id(runtime, user, flow_id)
    keys = build_input_keys(flow)

    async def events() -> AsyncIterator[str]:
        yield sse_event(keys)
        yield sse_event({"end_of_stream": True})

    return StreamingResponse(events(), media_type="text/event-stream")
