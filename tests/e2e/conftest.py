"""End-to-end tier: one real `raychat serve --demo` (Ray + Serve in HAProxy mode + SQLite) per
test session, driven over real HTTP and WebSocket clients. Started as the README's quick start
is: without RAYCHAT_JWT_SECRET, so the server generates its secret and keeps it in the database
(read from there for the tests that sign tokens of their own)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 60
# RAYCHAT_ALLOWED_ORIGINS of the suite's server (a cookie socket from it is accepted).
ALLOWED_ORIGIN = "https://allowed.example"


@dataclass(frozen=True)
class Server:
    """A running server and what `--demo` printed."""

    base: str
    ws_base: str
    user_id: int
    flow_id: str
    assistant_id: str
    token: str
    workdir: Path
    output: list[str]
    secret: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_lines(proc: subprocess.Popen[str], sink: list[str], ready: threading.Event) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sink.append(line.rstrip("\n"))
        if "raychat ready" in line:
            ready.set()
    ready.set()  # process ended: wake the waiter, which then sees it is not ready


def _value(lines: list[str], label: str) -> str:
    for line in lines:
        match = re.match(rf"{re.escape(label)}: (\S+)", line)
        if match:
            return match.group(1)
    raise AssertionError(f"{label!r} not printed; output:\n" + "\n".join(lines[-40:]))


def database_secret(workdir: Path) -> str:
    """The JWT secret the server generated and keeps in its database."""
    from storage.sql import SqlRepository, make_engine
    from storage.sql.server_state import JWT_SECRET_NAME

    async def read() -> str:
        repo = SqlRepository(make_engine(f"sqlite:///{workdir / 'raychat.db'}"))
        try:
            return await repo.ensure_server_value(JWT_SECRET_NAME, "unused-candidate")
        finally:
            await repo.close()

    return asyncio.run(read())


def start_demo_server(
    port: int, workdir: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[str], list[str]]:
    """`raychat serve --demo` on `port`, started in `workdir` with `env`, once it printed that
    it is ready: the process and its output lines so far (kept up to date by a thread)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "serve_app.cli", "serve", "--demo", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_read_lines, args=(proc, lines, ready), daemon=True).start()
    ready.wait(START_TIMEOUT_S)
    if not any("raychat ready" in line for line in lines):
        proc.kill()
        raise AssertionError("server did not start:\n" + "\n".join(lines[-60:]))
    return proc, lines


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("raychat-serve")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        # The suite asks many times as the demo user; the ask limit itself is tested without
        # the whole suite racing it (unit and Redis tiers), the turn limit end to end.
        "RAYCHAT_RATE_ASKS_PER_MINUTE": "1000",
        # No idle close (the default, API.md §4.4): test_bisheng_frontends.py idles a socket
        # past uvicorn's ping interval; the opt-in idle close is tested in the unit tier.
        # The suite registers and logs in many accounts from one address; the login limit is
        # tested in the unit tier (tests/unit/rest/test_accounts_safety.py).
        "RAYCHAT_RATE_LOGINS_PER_MINUTE": "10000",
        "RAYCHAT_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        # The frame rate limit is off so the WebSocket fuzz test reaches the parser with every
        # frame (throttling itself: tests/unit/test_chat_socket_limits.py). Every test chats as
        # the demo user: the live-session cap is raised above the suite's chat count (the cap
        # itself: tests/unit/test_ownership.py).
        "RAYCHAT_RATE_FRAMES_PER_SECOND": "0",
        "RAYCHAT_MAX_SESSIONS_PER_USER": "5000",
    }
    env.pop("RAYCHAT_DATABASE_URL", None)
    env.pop("RAYCHAT_JWT_SECRET", None)
    # Ray's token authentication as `raychat serve` leaves it: on for the cluster it starts.
    env.pop("RAY_AUTH_MODE", None)
    proc, lines = start_demo_server(port, workdir, env)
    yield Server(
        base=f"http://127.0.0.1:{port}",
        ws_base=f"ws://127.0.0.1:{port}",
        user_id=int(_value(lines, "demo user_id")),
        flow_id=_value(lines, "demo flow_id"),
        assistant_id=_value(lines, "demo assistant_id"),
        token=_value(lines, "demo token"),
        workdir=workdir,
        output=lines,
        secret=database_secret(workdir),
    )
    proc.send_signal(signal.SIGINT)  # what Ctrl-C does
    try:
        code = proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("raychat serve did not stop on SIGINT") from None
    assert code == 0, "\n".join(lines[-40:])
    assert any("raychat stopped" in line for line in lines)
    with socket.socket() as sock:  # the port is free again: nothing it started still listens
        assert sock.connect_ex(("127.0.0.1", port)) != 0
