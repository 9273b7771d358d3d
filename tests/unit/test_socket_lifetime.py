"""Socket lifetime (API.md §4.4): no idle close by default; the operator's opt-in idle close
(`RAYCHAT_WS_IDLE_TIMEOUT_S` > 0) still works; HAProxy's rendered timeouts (Serve's HAProxy
mode, as `raychat serve` configures it) let a socket sit quiet for 30 minutes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from actors.config import RuntimeConfig, SessionConfig, StorageConfig
from actors.sessions.host import SessionHost
from actors.storage_actor.actor import StorageActor
from serve_app.cli.proxy import HAPROXY_TIMEOUTS
from serve_app.errors import CLOSE_NORMAL
from serve_app.limits import Limits, LocalLimiter
from serve_app.settings import Settings
from serve_app.ws.socket import AppRef, ChatSocket
from tests.unit.test_chat_socket_limits import FLOW, USER, FakeWebSocket, HostRuntime

THIRTY_MINUTES_S = 30 * 60


def test_no_idle_close_by_default() -> None:
    assert (
        RuntimeConfig(
            storage=StorageConfig(database_url="sqlite://"), jwt_secret="s" * 32
        ).ws_idle_timeout_s
        == 0
    )
    assert Settings().ws_idle_timeout_s == 0


async def test_the_opt_in_idle_close_closes_a_quiet_socket(storage: StorageActor) -> None:
    config = RuntimeConfig(
        storage=StorageConfig(database_url="sqlite://"), jwt_secret="s" * 32, ws_idle_timeout_s=0.2
    )
    runtime = HostRuntime(config, SessionHost(SessionConfig(), storage), storage)
    ws = FakeWebSocket([], LocalLimiter(Limits(asks_per_minute=0)))
    socket = ChatSocket(ws, runtime, USER, AppRef(FLOW, "flow"), None)  # type: ignore[arg-type]
    async with asyncio.timeout(10):
        await socket.serve()  # returns once it closed the quiet socket
    assert ws.closed == (CLOSE_NORMAL, "idle timeout")


def _rendered_haproxy_config(tmp_path: Path) -> str:
    """Ray's own HAProxy config writer, with the timeouts `raychat serve` sets."""
    from ray.serve._private.haproxy import BackendConfig, HAProxyApi, HAProxyConfig

    client_s = int(HAPROXY_TIMEOUTS["RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S"])
    backend = BackendConfig(name="raychat", path_prefix="/", app_name="raychat")
    path = tmp_path / "haproxy.cfg"
    api = HAProxyApi(HAProxyConfig(timeout_client_s=client_s), {"raychat": backend}, str(path))
    api._generate_config_file_internal()
    return path.read_text()


def test_haproxy_lets_a_socket_sit_quiet_for_thirty_minutes(tmp_path: Path) -> None:
    """No `timeout tunnel` or `timeout server` (Ray renders neither): an upgraded socket is
    bounded only by `timeout client`, which exceeds 30 minutes; uvicorn's protocol pings
    (every 20 s) keep a connected client's socket active for HAProxy long before that."""
    timeouts: dict[str, str] = {}
    for line in _rendered_haproxy_config(tmp_path).splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "timeout":
            timeouts[words[1]] = words[2]
    assert int(timeouts["client"].rstrip("s")) > THIRTY_MINUTES_S
    assert "tunnel" not in timeouts and "server" not in timeouts
