"""Several `raychat serve` on one machine: each keeps its own ports (docs/deploy.md "Several
servers on one machine"); tests/deploy/test_two_servers.py runs two for real."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from serve_app.cli import main as cli
from serve_app.cli import proxy

# Serve's per-machine defaults that a second server must not share.
SHARED_DEFAULTS = {
    "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": "8500",
    "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": "9500",
    "RAY_SERVE_HAPROXY_STATS_PORT": "8404",
    "RAY_SERVE_HAPROXY_METRICS_PORT": "9101",
}


@pytest.fixture(autouse=True)
def own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI writes os.environ (for the Ray processes it starts): give each test a copy."""
    monkeypatch.setattr(
        os, "environ", {k: v for k, v in os.environ.items() if not k.startswith("RAY_SERVE_")}
    )


def isolated_ports() -> dict[str, str]:
    proxy.isolate_haproxy()
    Path(os.environ["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"]).parent.rmdir()
    return {name: os.environ[name] for name in SHARED_DEFAULTS}


def test_each_server_gets_its_own_fallback_proxy_and_admin_ports() -> None:
    first = isolated_ports()
    os.environ.clear()
    second = isolated_ports()
    for name, default in SHARED_DEFAULTS.items():
        assert first[name] != default and second[name] != default, name
    assert set(first.values()).isdisjoint(second.values())


def test_a_taken_port_refuses_to_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        url = f"sqlite:///{tmp_path / 'chat.db'}"
        # Before Ray starts: nothing to clean up, and no readiness probe answered by the other.
        assert cli.main(["serve", "--port", str(port), "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err and f"127.0.0.1:{port} is taken" in err
