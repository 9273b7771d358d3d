"""Session lists only Bisheng's frontends call (BISHENG-CLIENTS.md §6, API.md §4.5):
`/chat/app/list` (the platform's data-label list) and `/workstation/app/conversations` (the
client's per-app session sidebar, v2.6.0). Both read through the audit filter of storage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serve_app.deps import CurrentUser, RuntimeDep
from serve_app.schemas.chats import ChatListItemPublic, SessionPublic
from serve_app.schemas.envelope import INVALID, UNAUTHORIZED, Envelope, PageOf, ok
from serve_app.schemas.text import SafeStr
from storage.records import ChatListItem, SessionFilter

router = APIRouter(prefix="/api/v1", tags=["bisheng"], responses=UNAUTHORIZED)
Page = Annotated[int, Query(ge=1, le=1000)]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.get("/chat/app/list", responses=INVALID)
async def get_app_chat_list(
    runtime: RuntimeDep,
    user: CurrentUser,
    page_num: Page = 1,
    page_size: Limit = 20,
    keyword: Annotated[SafeStr | None, Query(max_length=255, description="ignored")] = None,
) -> Envelope[PageOf[SessionPublic]]:
    """Live sessions, newest created first: every user's for admins, the caller's own for
    others. Annotation parameters (`task_id`, `mark_*`), `flow_type` and `keyword` are
    accepted and ignored (raychat has no annotation tasks)."""
    user_ids = () if user.is_admin else (user.user_id,)
    f = SessionFilter(include_deleted=False, user_ids=user_ids)
    found = await runtime.storage.audit_sessions(f, page_num, page_size)
    return ok(PageOf(list=[SessionPublic.of(s) for s in found.items], total=found.total))


@router.get("/workstation/app/conversations", responses=INVALID)
async def get_app_conversations(
    runtime: RuntimeDep,
    user: CurrentUser,
    flow_id: Annotated[SafeStr, Query(min_length=1, max_length=64)],
    page: Page = 1,
    limit: Limit = 10,
) -> Envelope[PageOf[ChatListItemPublic]]:
    """The caller's live chats with one app, newest created first, as chat-list items
    (`latest_message` is null here)."""
    f = SessionFilter(include_deleted=False, user_ids=(user.user_id,), flow_ids=(flow_id,))
    found = await runtime.storage.audit_sessions(f, page, limit)
    items = [ChatListItemPublic.of(ChatListItem(s, None)) for s in found.items]
    return ok(PageOf(list=items, total=found.total))
