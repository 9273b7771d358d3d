"""`/chat/stats`, aggregated in SQL: sessions, messages, users and feedback, per UTC day."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.records import ChatStats, DayStats, StatsFilter
from storage.sql.dialect import day_text, utc_day
from storage.sql.tables import Assistant, ChatMessage, Flow, MessageSession


def _scope(f: StatsFilter, flow_id: Any, created: Any) -> list[ColumnElement[bool]]:
    """Rows of the apps in scope (an owner's flows and assistants, or one app) in the range."""
    conditions: list[ColumnElement[bool]] = []
    if f.flow_id is not None:
        conditions.append(flow_id == f.flow_id)
    if f.owner_id is not None:
        owned_flows = select(Flow.id).where(Flow.user_id == f.owner_id)
        owned_assistants = select(Assistant.id).where(Assistant.user_id == f.owner_id)
        conditions.append(or_(flow_id.in_(owned_flows), flow_id.in_(owned_assistants)))
    if f.start is not None:
        conditions.append(created >= f.start)
    if f.end is not None:
        conditions.append(created < f.end)
    return conditions


class SqlStats:
    """Statistics over sessions and messages (soft-deleted sessions count: they happened)."""

    engine: AsyncEngine

    async def stats(self, f: StatsFilter) -> ChatStats:
        """Totals and per-day figures. Three statements: sessions and feedback per day (by
        session creation), distinct users, messages per day (by message creation)."""
        async with self.engine.connect() as conn:
            dialect = conn.dialect.name
            s_day = utc_day(MessageSession.create_time, dialect).label("day")
            s_scope = _scope(f, MessageSession.flow_id, MessageSession.create_time)
            per_day = (
                select(
                    s_day,
                    func.count(),
                    func.coalesce(func.sum(MessageSession.like), 0),
                    func.coalesce(func.sum(MessageSession.dislike), 0),
                    func.coalesce(func.sum(MessageSession.copied), 0),
                )
                .where(*s_scope)
                .group_by(s_day)
            )
            users = select(func.count(MessageSession.user_id.distinct())).where(*s_scope)
            m_day = utc_day(ChatMessage.create_time, dialect).label("day")
            m_scope = _scope(f, ChatMessage.flow_id, ChatMessage.create_time)
            messages = select(m_day, func.count()).where(*m_scope).group_by(m_day)
            sessions = {
                day_text(r[0]): tuple(int(v) for v in r[1:]) for r in await conn.execute(per_day)
            }
            user_count = int((await conn.execute(users)).scalar_one())
            counts = {day_text(r[0]): int(r[1]) for r in await conn.execute(messages)}
        return _combine(sessions, counts, user_count)


def _combine(
    sessions: dict[str, tuple[int, ...]], messages: dict[str, int], users: int
) -> ChatStats:
    days = []
    for day in sorted(set(sessions) | set(messages)):
        count, like, dislike, copied = sessions.get(day, (0, 0, 0, 0))
        days.append(DayStats(day, count, messages.get(day, 0), like, dislike, copied))
    return ChatStats(
        sessions=sum(d.sessions for d in days),
        messages=sum(d.messages for d in days),
        users=users,
        like=sum(d.like for d in days),
        dislike=sum(d.dislike for d in days),
        copied=sum(d.copied for d in days),
        by_day=tuple(days),
    )
