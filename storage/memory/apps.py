"""The in-memory fake's app and user side: flows with versions, assistants, online apps, users.
Same contract as `storage.sql.apps` / `storage.sql.users`."""

from __future__ import annotations

import dataclasses
from typing import Any

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
    SessionRow,
    UserRecord,
    utcnow,
)

App = FlowRecord | AssistantRecord


def _changed(changes: FlowChanges | AssistantChanges) -> dict[str, Any]:
    fields = {k: getattr(changes, k) for k in changes.__dataclass_fields__}
    return {k: v for k, v in fields.items() if v is not None}


def _page(items: list[Any], page: int, limit: int) -> Page[Any]:
    items.sort(key=lambda a: (a.update_time, a.id), reverse=True)
    return Page(tuple(items[(page - 1) * limit : page * limit]), len(items))


class MemoryApps:
    """Flows, assistants and users held in dicts."""

    sessions: dict[str, SessionRow]

    def __init__(self) -> None:
        self.flows: dict[str, FlowRecord] = {}
        self.deleted_apps: set[str] = set()
        self.versions: dict[tuple[str, int], FlowVersionRecord] = {}
        self.assistants: dict[str, AssistantRecord] = {}
        self.users: dict[int, UserRecord] = {}
        self.server_values: dict[str, str] = {}

    def _apps_of(self, owner_id: int | None) -> set[str] | None:
        """Ids of the owner's flows and assistants (deleted too); None for everyone's."""
        if owner_id is None:
            return None
        apps: list[App] = [*self.flows.values(), *self.assistants.values()]
        return {a.id for a in apps if a.user_id == owner_id}

    def _live(self, app_id: str) -> bool:
        return app_id not in self.deleted_apps

    def _visible(self, app: App, user_id: int | None) -> bool:
        mine = user_id is None or app.user_id == user_id or app.is_public
        return self._live(app.id) and mine

    def _add_version(self, flow: FlowRecord) -> None:
        key = (flow.id, flow.version)
        self.versions.setdefault(
            key, FlowVersionRecord(flow.id, flow.version, flow.data, flow.user_id, utcnow())
        )

    async def create_flow(self, flow: FlowRecord) -> FlowRecord:
        """Insert a flow and its first version; ValueError if the id exists."""
        if flow.id in self.flows:
            raise ValueError(f"flow {flow.id} exists")
        self.flows[flow.id] = flow
        self._add_version(flow)
        return flow

    async def put_flow(self, flow: FlowRecord) -> None:
        """Insert or replace a flow."""
        self.flows[flow.id] = flow
        self.deleted_apps.discard(flow.id)
        self._add_version(flow)

    async def get_flow(self, flow_id: str) -> FlowRecord | None:
        """The live flow or None."""
        flow = self.flows.get(flow_id)
        return flow if flow is not None and self._live(flow_id) else None

    async def update_flow(self, flow_id: str, changes: FlowChanges) -> FlowRecord | None:
        """PATCH a live flow; new data bumps the version."""
        flow = await self.get_flow(flow_id)
        if flow is None:
            return None
        version = flow.version + (changes.data is not None)
        flow = dataclasses.replace(flow, **_changed(changes), version=version, update_time=utcnow())
        self.flows[flow_id] = flow
        if changes.data is not None:
            self._add_version(flow)
        return flow

    def _soft_delete(self, app_id: str) -> None:
        self.deleted_apps.add(app_id)
        for chat_id, s in list(self.sessions.items()):
            if s.flow_id == app_id and not s.is_delete:
                self.sessions[chat_id] = dataclasses.replace(
                    s, is_delete=True, update_time=utcnow()
                )

    async def delete_flow(self, flow_id: str) -> bool:
        """Soft delete a flow and its sessions."""
        if await self.get_flow(flow_id) is None:
            return False
        self._soft_delete(flow_id)
        return True

    async def list_flows(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[FlowRecord]:
        """Visible flows, newest update first."""
        return _page([f for f in self.flows.values() if self._visible(f, user_id)], page, limit)

    async def flow_versions(self, flow_id: str) -> list[FlowVersionRecord]:
        """A flow's versions, oldest first."""
        return sorted(
            (v for v in self.versions.values() if v.flow_id == flow_id), key=lambda v: v.version
        )

    async def create_assistant(self, assistant: AssistantRecord) -> AssistantRecord:
        """Insert an assistant; ValueError if the id exists."""
        if assistant.id in self.assistants:
            raise ValueError(f"assistant {assistant.id} exists")
        self.assistants[assistant.id] = assistant
        return assistant

    async def get_assistant(self, assistant_id: str) -> AssistantRecord | None:
        """The live assistant or None."""
        found = self.assistants.get(assistant_id)
        return found if found is not None and self._live(assistant_id) else None

    async def update_assistant(
        self, assistant_id: str, changes: AssistantChanges
    ) -> AssistantRecord | None:
        """PATCH a live assistant."""
        found = await self.get_assistant(assistant_id)
        if found is None:
            return None
        found = dataclasses.replace(found, **_changed(changes), update_time=utcnow())
        self.assistants[assistant_id] = found
        return found

    async def delete_assistant(self, assistant_id: str) -> bool:
        """Soft delete an assistant and its sessions."""
        if await self.get_assistant(assistant_id) is None:
            return False
        self._soft_delete(assistant_id)
        return True

    async def list_assistants(
        self, user_id: int | None, page: int = 1, limit: int = 20
    ) -> Page[AssistantRecord]:
        """Visible assistants, newest update first."""
        mine = [a for a in self.assistants.values() if self._visible(a, user_id)]
        return _page(mine, page, limit)

    async def list_online_apps(
        self, user_id: int | None, keyword: str | None = None, page: int = 1, limit: int = 10
    ) -> list[AppSummary]:
        """Online visible flows and assistants matching the keyword, newest first."""
        apps: list[tuple[App, int]] = [
            *((f, FLOW_TYPE_FLOW) for f in self.flows.values()),
            *((a, FLOW_TYPE_ASSISTANT) for a in self.assistants.values()),
        ]
        found = [
            AppSummary(a.id, a.name, a.description, a.logo, kind, a.update_time)
            for a, kind in apps
            if self._visible(a, user_id)
            and a.status == FLOW_ONLINE
            and (not keyword or keyword in a.name)
        ]
        return list(_page(found, page, limit).items)

    async def ensure_user(self, user_name: str, role: str, password_hash: str) -> UserRecord:
        """The named user, created if missing."""
        existing = await self.get_user_by_name(user_name)
        return existing or self._add_user(user_name, role, password_hash)

    def _add_user(self, user_name: str, role: str, password_hash: str) -> UserRecord:
        user = UserRecord(len(self.users) + 1, user_name, role, password_hash)
        self.users[user.id] = user
        return user

    async def create_user(
        self, user_name: str, password_hash: str, role: str | None = None
    ) -> UserRecord | None:
        """A new user (first one admin when role is None), None if the name is taken."""
        if await self.get_user_by_name(user_name) is not None:
            return None
        return self._add_user(user_name, role or ("user" if self.users else "admin"), password_hash)

    async def ensure_server_value(self, name: str, candidate: str) -> str:
        """The value under `name`, `candidate` if there was none (one event loop: atomic)."""
        return self.server_values.setdefault(name, candidate)

    async def get_user(self, user_id: int) -> UserRecord | None:
        """By id."""
        return self.users.get(user_id)

    async def get_user_by_name(self, user_name: str) -> UserRecord | None:
        """By name."""
        return next((u for u in self.users.values() if u.user_name == user_name), None)
