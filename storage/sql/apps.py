"""The app registry: flows (with versions), assistants, the online-apps list.

Deleting an app soft-deletes it and every session of it, in one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, false, func, literal, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.records import (
    FLOW_ONLINE,
    FLOW_TYPE_ASSISTANT,
    FLOW_TYPE_FLOW,
    AppSummary,
    AssistantChanges,
    AssistantRecord,
    FlowChanges,
    FlowRecord,
    FlowVersionRecord,
    Page,
    utcnow,
)
from storage.sql.dialect import insert_ignoring_duplicates
from storage.sql.mapping import assistant_record, flow_record, flow_version_record
from storage.sql.tables import Assistant, Flow, FlowVersion, MessageSession, table_of


def _flow_values(flow: FlowRecord) -> dict[str, Any]:
    return {
        "id": flow.id,
        "name": flow.name,
        "description": flow.description,
        "logo": flow.logo,
        "status": flow.status,
        "version": flow.version,
        "data": flow.data,
        "user_id": flow.user_id,
        "is_public": flow.is_public,
        "is_delete": False,
        "create_time": flow.create_time,
        "update_time": flow.update_time,
    }


def _assistant_values(a: AssistantRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "description": a.description,
        "logo": a.logo,
        "prompt": a.prompt,
        "model": a.model,
        "tools": a.tools,
        "guide_word": a.guide_word,
        "status": a.status,
        "user_id": a.user_id,
        "is_public": a.is_public,
        "is_delete": False,
        "create_time": a.create_time,
        "update_time": a.update_time,
    }


def _changed(changes: FlowChanges | AssistantChanges) -> dict[str, Any]:
    fields = {k: getattr(changes, k) for k in changes.__dataclass_fields__}
    return {k: v for k, v in fields.items() if v is not None}


def _visible(model: type[Flow] | type[Assistant], user_id: int | None) -> list[ColumnElement[bool]]:
    """Live apps the user may see: theirs or public; every app when `user_id` is None (admin)."""
    conditions = [model.is_delete == false()]
    if user_id is not None:
        conditions.append(or_(model.user_id == user_id, model.is_public.is_(True)))
    return conditions


async def _page(
    conn: AsyncConnection,
    table: Table,
    conditions: list[ColumnElement[bool]],
    page: int,
    limit: int,
) -> tuple[int, list[Any]]:
    count = select(func.count()).select_from(table).where(*conditions)
    rows = (
        select(table)
        .where(*conditions)
        .order_by(table.c.update_time.desc(), table.c.id.desc())
        .limit(limit)
        .offset((page - 1) * limit)
    )
    total = int((await conn.execute(count)).scalar_one())
    return total, list(await conn.execute(rows))


async def _soft_delete_app(conn: AsyncConnection, table: Table, app_id: str) -> bool:
    stmt = (
        update(table)
        .where(table.c.id == app_id, table.c.is_delete == false())
        .values(is_delete=True, update_time=utcnow())
    )
    if not (await conn.execute(stmt)).rowcount:
        return False
    await conn.execute(
        update(MessageSession)
        .where(MessageSession.flow_id == app_id, MessageSession.is_delete == false())
        .values(is_delete=True, update_time=utcnow())
    )
    return True


class SqlApps:
    """Flows and assistants."""

    engine: AsyncEngine

    async def create_flow(self, flow: FlowRecord) -> FlowRecord:
        """Insert a flow and its first version row (one transaction)."""
        async with self.engine.begin() as conn:
            await conn.execute(table_of(Flow).insert().values(_flow_values(flow)))
            await _add_version(conn, flow)
        return flow

    async def put_flow(self, flow: FlowRecord) -> None:
        """Insert or replace a flow (demo bootstrap); its version row is added if missing."""
        async with self.engine.begin() as conn:
            await conn.execute(table_of(Flow).delete().where(Flow.id == flow.id))
            await conn.execute(table_of(Flow).insert().values(_flow_values(flow)))
            await _add_version(conn, flow)

    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        """The live (not deleted) flow with this id."""
        stmt = select(table_of(Flow)).where(Flow.id == flow_id, Flow.is_delete == false())
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else flow_record(row)

    async def update_flow(self, flow_id: str, changes: FlowChanges) -> FlowRecord | None:
        """Apply a PATCH to a live flow; a new `data` bumps `version` and stores a version row.
        None when the flow does not exist. One transaction; the UPDATE locks the row first."""
        values = {**_changed(changes), "update_time": utcnow()}
        if changes.data is not None:
            values["version"] = Flow.version + 1
        stmt = update(Flow).where(Flow.id == flow_id, Flow.is_delete == false()).values(values)
        async with self.engine.begin() as conn:
            if not (await conn.execute(stmt)).rowcount:
                return None
            row = (await conn.execute(select(table_of(Flow)).where(Flow.id == flow_id))).one()
            flow = flow_record(row)
            if changes.data is not None:
                await _add_version(conn, flow)
        return flow

    async def delete_flow(self, flow_id: str) -> bool:
        """Soft-delete a flow and all its sessions; False when no live flow has this id."""
        async with self.engine.begin() as conn:
            return await _soft_delete_app(conn, table_of(Flow), flow_id)

    async def list_flows(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[FlowRecord]:
        """Live flows the user owns or that are public (all for None), newest update first."""
        async with self.engine.connect() as conn:
            total, rows = await _page(conn, table_of(Flow), _visible(Flow, user_id), page, limit)
        return Page(tuple(flow_record(r) for r in rows), total)

    async def flow_versions(self, flow_id: str) -> list[FlowVersionRecord]:
        """Every stored graph of a flow, oldest version first."""
        stmt = (
            select(table_of(FlowVersion))
            .where(FlowVersion.flow_id == flow_id)
            .order_by(FlowVersion.version)
        )
        async with self.engine.connect() as conn:
            return [flow_version_record(r) for r in await conn.execute(stmt)]

    async def create_assistant(self, assistant: AssistantRecord) -> AssistantRecord:
        """Insert an assistant."""
        async with self.engine.begin() as conn:
            await conn.execute(table_of(Assistant).insert().values(_assistant_values(assistant)))
        return assistant

    async def get_assistant(self, assistant_id: str) -> AssistantRecord | None:
        """The live assistant with this id."""
        stmt = select(table_of(Assistant)).where(
            Assistant.id == assistant_id, Assistant.is_delete == false()
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else assistant_record(row)

    async def update_assistant(
        self, assistant_id: str, changes: AssistantChanges
    ) -> AssistantRecord | None:
        """Apply a PATCH to a live assistant; None when it does not exist."""
        values = {**_changed(changes), "update_time": utcnow()}
        live = (Assistant.id == assistant_id) & (Assistant.is_delete == false())
        async with self.engine.begin() as conn:
            if not (await conn.execute(update(Assistant).where(live).values(values))).rowcount:
                return None
            row = (await conn.execute(select(table_of(Assistant)).where(live))).one()
        return assistant_record(row)

    async def delete_assistant(self, assistant_id: str) -> bool:
        """Soft-delete an assistant and all its sessions; False when none is live."""
        async with self.engine.begin() as conn:
            return await _soft_delete_app(conn, table_of(Assistant), assistant_id)

    async def list_assistants(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[AssistantRecord]:
        """Live assistants the user owns or that are public (all for None), newest first."""
        async with self.engine.connect() as conn:
            total, rows = await _page(
                conn, table_of(Assistant), _visible(Assistant, user_id), page, limit
            )
        return Page(tuple(assistant_record(r) for r in rows), total)

    async def list_online_apps(
        self, user_id: int | None, keyword: str | None = None, page: int = 1, limit: int = 10
    ) -> list[AppSummary]:
        """Online flows and assistants the user may use, newest update first; `keyword` matches
        a substring of the name. One statement (UNION ALL)."""
        parts = []
        for model, flow_type in ((Flow, FLOW_TYPE_FLOW), (Assistant, FLOW_TYPE_ASSISTANT)):
            conditions = [*_visible(model, user_id), model.status == FLOW_ONLINE]
            if keyword:
                conditions.append(model.name.contains(keyword, autoescape=True))
            parts.append(
                select(
                    model.id,
                    model.name,
                    model.description,
                    model.logo,
                    literal(flow_type).label("flow_type"),
                    model.update_time,
                ).where(*conditions)
            )
        apps = union_all(*parts).subquery()
        stmt = (
            select(apps)
            .order_by(apps.c.update_time.desc(), apps.c.id.desc())
            .limit(limit)
            .offset((page - 1) * limit)
        )
        async with self.engine.connect() as conn:
            return [
                AppSummary(r.id, r.name, r.description, r.logo, int(r.flow_type), r.update_time)
                for r in await conn.execute(stmt)
            ]


async def _add_version(conn: AsyncConnection, flow: FlowRecord) -> None:
    values = {
        "flow_id": flow.id,
        "version": flow.version,
        "data": flow.data,
        "status": flow.status,
        "user_id": flow.user_id,
        "create_time": utcnow(),
    }
    await conn.execute(
        insert_ignoring_duplicates(conn.dialect.name, table_of(FlowVersion)), [values]
    )
