"""REST fuzzing over the OpenAPI schema (issue 8): schemathesis generates requests for every
operation, valid and not, and no answer may be a 5xx (`not_a_server_error`).

The real FastAPI app and a real StorageActor on SQLite run in a uvicorn server on a thread of
its own (its own event loop, no Ray); requests are authenticated as the first user (an admin, so
the audit routes are reached too). `max_examples` keeps the run well under two minutes.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from actors.config import RuntimeConfig, StorageConfig
from actors.ray.storage_client import RayStorageClient
from actors.storage_actor.actor import StorageActor
from serve_app.api import build_api
from serve_app.settings import ApiConfig
from tests.unit.rest.conftest import SECRET, FakeHandle, FakeRuntime

pytestmark = pytest.mark.fuzz
MAX_EXAMPLES = 12


def _app(database_url: str) -> Any:
    actor = StorageActor(StorageConfig(database_url=database_url, batch_max_delay_ms=1))
    runtime = FakeRuntime(
        RuntimeConfig(storage=StorageConfig(database_url="sqlite://"), jwt_secret=SECRET),
        RayStorageClient(FakeHandle(actor)),
    )
    # Rate limits off: the fuzzer asks far more than 60 times a minute.
    return build_api(runtime, ApiConfig(asks_per_minute=0, concurrent_turns=0))  # type: ignore[arg-type]


@dataclass
class Server:
    url: str
    headers: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def rest_server() -> Iterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="raychat-fuzz-"))
    port = _free_port()
    config = uvicorn.Config(
        _app(f"sqlite:///{workdir / 'fuzz.db'}"), host="127.0.0.1", port=port, log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(200):  # up within 10 s (polling, not sleeping to order events)
            try:
                client.get("/health")
                break
            except httpx.TransportError:
                threading.Event().wait(0.05)
        creds = {"user_name": "fuzz-admin", "password": "fuzz-password"}
        assert client.post("/api/v1/user/register", json=creds).status_code == 200
        token = client.post("/api/v1/user/login", json=creds).json()["data"]["access_token"]
    yield Server(url, {"Authorization": f"Bearer {token}"})
    server.should_exit = True
    thread.join(timeout=10)


schema = schemathesis.openapi.from_dict(_app("sqlite://").openapi())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases on every run: a failure reproduces
)
def test_no_operation_answers_with_a_server_error(case: Any, rest_server: Server) -> None:
    case.call_and_validate(
        base_url=rest_server.url,
        headers=rest_server.headers,
        checks=[not_a_server_error],
        timeout=10,
    )
