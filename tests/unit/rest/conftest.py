"""In-process REST tier: the real FastAPI app and a real StorageActor on SQLite, no Ray.

The storage actor's handle is faked so that `RayStorageClient` (the real one) awaits plain
coroutines instead of Ray object refs; session actors are not involved except through
`drop_if_live`, which is recorded.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from actors.config import RuntimeConfig, StorageConfig
from actors.ray.registry import HostReport
from actors.ray.storage_client import RayStorageClient
from actors.sessions.activity import BUCKET_S, Bucket, ErrorSeen, HostSummary, SessionSummary
from actors.sessions.session import SessionKey
from actors.storage_actor.actor import StorageActor
from serve_app.api import build_api
from serve_app.auth.principals import ROLE_CACHE
from serve_app.settings import ApiConfig

SECRET = "unit-rest-secret-" + "x" * 24


class _Method:
    def __init__(self, fn: Callable[..., Awaitable[Any]]) -> None:
        self._fn = fn

    def remote(self, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return self._fn(*args, **kwargs)


class FakeHandle:
    """Looks like a Ray actor handle: `handle.method.remote(...)` is awaitable."""

    def __init__(self, actor: StorageActor) -> None:
        self._actor = actor

    def __getattr__(self, name: str) -> _Method:
        return _Method(getattr(self._actor, name))


@dataclass
class RecordingArchive:
    """The Redis frame archive's `delete`, recorded."""

    deleted: list[str] = field(default_factory=list)

    async def delete(self, chat: str) -> None:
        self.deleted.append(chat)


@dataclass
class FakeRuntime:
    """What routes use of `actors.ray.registry.Runtime`, without Ray."""

    config: RuntimeConfig
    storage: RayStorageClient
    dropped: list[SessionKey] = field(default_factory=list)
    refreshed: list[SessionKey] = field(default_factory=list)
    archive: RecordingArchive = field(default_factory=lambda: RecordingArchive())

    async def drop_if_live(self, key: SessionKey) -> bool:
        self.dropped.append(key)
        return False

    async def refresh_context_if_live(self, key: SessionKey) -> bool:
        self.refreshed.append(key)
        return False

    async def live_sessions(self) -> dict[int, int]:
        return {0: 3, 1: 4}

    async def warm_hosts(self) -> None:
        return None

    async def actor_names(self) -> list[str]:
        return ["raychat-storage"]

    async def host_reports(self, limit: int) -> list[HostReport]:
        """Host 0 holds two sessions of user 1 (one running), host 1 was never started."""
        now = time.time()
        sessions = [
            SessionSummary("c1", "f" * 32, "flow", "demo", 1, "running", 2, 0.0, True),
            SessionSummary("c2", "f" * 32, "flow", "demo", 1, "waiting_object", 1, 42.0, True),
        ]
        bucket = Bucket(int(now) // BUCKET_S * BUCKET_S - BUCKET_S, turns=3, tokens=120)
        error = ErrorSeen(now, "c1", "f" * 32, 13005, "model failed")
        summary = HostSummary(2, sessions[:limit], [bucket], [error], {"node_id": "n1"})
        return [
            HostReport(0, "raychat-session-host-0", summary),
            HostReport(1, "raychat-session-host-1", None),
        ]

    async def ray_dashboard_url(self) -> str | None:
        return "127.0.0.1:8265"


@dataclass
class Api:
    """A client on the app, the fake runtime, and helpers."""

    client: httpx.AsyncClient
    runtime: FakeRuntime

    async def register(self, name: str, password: str = "secret-pw") -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/user/register", json={"user_name": name, "password": password}
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    async def login(self, name: str, password: str = "secret-pw") -> dict[str, str]:
        response = await self.client.post(
            "/api/v1/user/login", json={"user_name": name, "password": password}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}

    async def user(self, name: str) -> dict[str, str]:
        await self.register(name)
        return await self.login(name)


async def make_api(
    tmp_path: Path, config: ApiConfig, jwt_secret: str | None = SECRET
) -> AsyncIterator[Api]:
    """`jwt_secret` None: the server generates one and keeps it in the database."""
    actor = StorageActor(
        StorageConfig(database_url=f"sqlite:///{tmp_path / 'rest.db'}", batch_max_delay_ms=1)
    )
    await actor.ping()
    runtime = FakeRuntime(
        RuntimeConfig(storage=StorageConfig(database_url="sqlite://"), jwt_secret=jwt_secret),
        RayStorageClient(FakeHandle(actor)),
    )
    app = build_api(runtime, config)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    ROLE_CACHE._roles.clear()
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, runtime)
    await actor.shutdown()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    # Tests register and log in many accounts from one address; the login limit itself is
    # tested with its own app (test_accounts_safety.py).
    config = ApiConfig(
        asks_per_minute=5,
        concurrent_turns=2,
        logins_per_minute=1000,
        logins_per_address_per_minute=1000,
    )
    async for made in make_api(tmp_path, config):
        yield made
