"""Helpers of the deploy tier's Ray clusters started with `ray start` (as cluster.yaml does):
ports and Serve's per-machine files of their own, readiness polling, Serve's view of the app and
one chat turn over the deployed app's WebSocket."""

from __future__ import annotations

import json
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from serve_app.auth.tokens import Principal, issue_token
from serve_app.cli.proxy import direct_ingress_ports
from tests.conftest import demo_graph

ROOT = Path(__file__).resolve().parents[2]
SECRET = "deploy-test-secret-" + "z" * 32

# `ray start` listeners that default to fixed ports (or that another cluster on this machine
# may hold): each cluster of the tier takes free ones.
RAY_NODE_PORTS = (
    "node-manager-port",
    "object-manager-port",
    "metrics-export-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], object], seconds: float, what: str) -> None:
    """Poll an external process's readiness (bounded); not used to order our own events."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what} not ready within {seconds:.0f} s")


def ray_port_flags(*names: str) -> list[str]:
    """`--<name>=<free port>` for each `ray start` listener named."""
    return [f"--{name}={free_port()}" for name in names]


def serve_isolation_env() -> dict[str, str]:
    """Serve's per-machine files and ports, of this cluster's own (docs/deploy.md "Several
    servers on one machine"): HAProxy's files, stats and metrics ports, Serve's fallback proxy
    (HAProxy's backup, bound with SO_REUSEPORT) and the replicas' port block."""
    haproxy = tempfile.mkdtemp(prefix="rc-", dir="/tmp")  # short: unix socket paths
    return {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{haproxy}/haproxy.cfg",
        "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{haproxy}/admin.sock",
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": haproxy,
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{haproxy}/server-state",
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": f"{haproxy}/metrics.sock",
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port()),
        **direct_ingress_ports(),
    }


@dataclass(frozen=True)
class Deployed:
    """The app's base URL and the cluster's Ray endpoints and token."""

    base: str
    dashboard: str
    gcs: str
    ray_token: str

    def ray_get(self, path: str) -> Any:
        """GET on Ray's dashboard REST API with the cluster's token."""
        headers = {"Authorization": f"Bearer {self.ray_token}"}
        response = httpx.get(f"{self.dashboard}{path}", headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def serve_details(self) -> dict[str, Any]:
        """Serve's own view of the applications (the dashboard's REST API, as `serve status`)."""
        details: dict[str, Any] = self.ray_get("/api/serve/applications/")
        return details


def deployer_token() -> str:
    """A token of user 7 signed with the tier's JWT secret (what `raychat token` prints)."""
    return issue_token(SECRET, Principal(7, "deployer"))


async def chat_turn(base: str, token: str, text: str) -> list[dict[str, Any]]:
    """Save and publish the demo flow, ask `text` over the WebSocket: the turn's frames."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        created = http.post("/api/v1/flows", json={"name": "deployed", "data": demo_graph()})
        assert created.status_code == 200, created.text
        flow_id = created.json()["data"]["id"]
        assert http.patch(f"/api/v1/flows/{flow_id}", json={"status": 2}).status_code == 200
    ws_url = base.replace("http", "ws", 1)
    chat_id = f"deploy-{time.monotonic_ns()}"
    async with websockets.connect(
        f"{ws_url}/api/v1/chat/chat/{flow_id}?t={token}&chat_id={chat_id}"
    ) as ws:
        await ws.send(json.dumps({"inputs": {"input": text}}))
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1]["type"] != "close":
            frames.append(json.loads(await ws.recv()))
    return frames
