"""Statistics (API.md §3 `/chat/stats`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serve_app.deps import CurrentUser, RuntimeDep
from serve_app.schemas.envelope import INVALID, UNAUTHORIZED, DayOrTime, Envelope, ok
from serve_app.schemas.reports import StatsPublic
from serve_app.schemas.text import SafeStr
from serve_app.services.reports import chat_stats

router = APIRouter(prefix="/api/v1/chat", tags=["stats"], responses=UNAUTHORIZED)
DateQuery = Annotated[DayOrTime | None, Query()]


@router.get("/stats", responses=INVALID)
async def get_stats(
    runtime: RuntimeDep,
    user: CurrentUser,
    flow_id: Annotated[SafeStr | None, Query(min_length=1, max_length=64)] = None,
    start_date: DateQuery = None,
    end_date: DateQuery = None,
) -> Envelope[StatsPublic]:
    """Sessions, messages, distinct users and feedback of the caller's apps (all apps for
    admins), in total and per UTC day (by creation), aggregated in SQL."""
    return ok(StatsPublic.of(await chat_stats(runtime, user, flow_id, start_date, end_date)))
