"""Two `raychat serve` on one machine, both alive: each port answers with its own app, also while
its HAProxy has no replica up and sends requests to Serve's fallback proxy (the cross-talk of
docs/deploy.md "Several servers on one machine": both fallback proxies were on 127.0.0.1:8500
with SO_REUSEPORT, so the kernel gave a fallback request to either cluster). A third server on a
taken port refuses to start.

Each server generates its own JWT secret (no RAYCHAT_JWT_SECRET, separate databases), so a
token of one is refused (401) by the other: the answer names the app that gave it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import STOP_TIMEOUT_S, free_port, start_demo_server

pytestmark = pytest.mark.timeout(420)
FALLBACK_REQUESTS = 16  # concurrent, so HAProxy opens several connections to its backup


@dataclass(frozen=True)
class Server:
    """A running `raychat serve --demo`: its base URL, demo token and HAProxy admin socket."""

    proc: subprocess.Popen[str]
    base: str
    token: str
    haproxy_dir: Path
    output: list[str]

    def admin_socket(self) -> Path:
        # Serve puts HAProxy's files in a directory per node under the configured one.
        (path,) = self.haproxy_dir.glob("*/admin.sock")
        return path


def serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "serve_app.cli", "serve", "--demo", "--port", str(port)]


def server_env(haproxy_dir: Path | None = None) -> dict[str, str]:
    # Nothing of the caller's Ray or raychat configuration: each server picks its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_SERVE_", "RAYCHAT_"))}
    env["PYTHONUNBUFFERED"] = "1"
    if haproxy_dir is not None:
        env["RAY_SERVE_HAPROXY_SOCKET_PATH"] = f"{haproxy_dir}/admin.sock"
    return env


def start_server(workdir: Path) -> Server:
    port = free_port()
    # Short: HAProxy limits socket paths to 97 bytes and Serve adds a directory per node.
    haproxy_dir = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
    proc, lines = start_demo_server(port, workdir, server_env(haproxy_dir))
    (token,) = (m.group(1) for ln in lines if (m := re.match(r"demo token: (\S+)", ln)))
    return Server(proc, f"http://127.0.0.1:{port}", token, haproxy_dir, lines)


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGINT)
    try:
        code = server.proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(STOP_TIMEOUT_S)
        raise
    assert code == 0, "\n".join(server.output[-40:])


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    first = start_server(tmp_path_factory.mktemp("first"))
    try:
        second = start_server(tmp_path_factory.mktemp("second"))
        try:
            yield first, second
        finally:
            stop_server(second)
    finally:
        stop_server(first)


def flows_status(base: str, token: str) -> int:
    response = httpx.get(
        f"{base}/api/v1/flows", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return response.status_code


def haproxy_command(server: Server, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(server.admin_socket()))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def replica_servers(server: Server) -> list[str]:
    """`backend/server` names of the ingress replicas in the server's HAProxy (not the backup)."""
    rows = [line.split(",") for line in haproxy_command(server, "show stat").splitlines()]
    return [
        f"{row[0]}/{row[1]}"
        for row in rows
        if len(row) > 1 and row[0].startswith("http-") and row[1].startswith("SERVE_REPLICA")
    ]


async def statuses_through_fallback(server: Server, token: str) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}

    async def one() -> int:
        async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=30) as http:
            return (await http.get("/api/v1/flows")).status_code

    return list(await asyncio.gather(*(one() for _ in range(FALLBACK_REQUESTS))))


def test_each_port_answers_with_its_own_app(servers: tuple[Server, Server]) -> None:
    first, second = servers
    assert flows_status(first.base, first.token) == 200
    assert flows_status(second.base, second.token) == 200
    assert flows_status(first.base, second.token) == 401
    assert flows_status(second.base, first.token) == 401


async def test_the_fallback_proxy_is_the_servers_own(servers: tuple[Server, Server]) -> None:
    first, second = servers
    replicas = replica_servers(second)
    assert replicas, haproxy_command(second, "show stat")
    # As while its replicas start or restart: HAProxy routes to its backup, Serve's proxy.
    for name in replicas:
        haproxy_command(second, f"disable server {name}")
    try:
        assert await statuses_through_fallback(second, second.token) == [200] * FALLBACK_REQUESTS
        assert await statuses_through_fallback(second, first.token) == [401] * FALLBACK_REQUESTS
    finally:
        for name in replicas:
            haproxy_command(second, f"enable server {name}")


def test_a_server_on_a_taken_port_refuses_to_start(
    servers: tuple[Server, Server], tmp_path: Path
) -> None:
    first, _ = servers
    port = int(first.base.rsplit(":", 1)[1])
    result = subprocess.run(
        serve_command(port),
        cwd=tmp_path,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"127.0.0.1:{port} is taken" in result.stderr
    assert flows_status(first.base, first.token) == 200  # the first one is untouched
