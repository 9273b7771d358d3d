"""What `raychat serve` prints and configures keeps secrets out of logs (issue 8): the database
password is masked, the demo token is printed once and in no URL, HAProxy's access log (whole
request lines, `?t=<token>` included) goes nowhere, and Ray's token auth is not turned off."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from serve_app.cli import main as cli
from serve_app.cli import proxy, serve
from serve_app.cli.demo import DemoData
from serve_app.settings import Settings

TOKEN = "eyJhbGciOiJIUzI1NiJ9.demo-token.signature"


@pytest.fixture(autouse=True)
def own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI writes os.environ (for the Ray processes it starts): give each test a copy."""
    monkeypatch.setattr(os, "environ", dict(os.environ))


def test_announce_masks_the_password_and_puts_no_token_in_a_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = DemoData(1, "demo", "f" * 32, "a" * 32, TOKEN)
    monkeypatch.setattr(serve, "_install_demo", lambda _settings: demo)
    settings = Settings(database_url="postgresql://app:hunter2@db.example/chat")
    serve._announce(settings, "http://127.0.0.1:8000", "haproxy", demo=True)
    out = capsys.readouterr().out
    assert "hunter2" not in out and "postgresql://app:***@db.example/chat" in out
    assert f"demo token: {TOKEN}" in out  # the e2e tier and users read it from this line
    assert out.count(TOKEN) == 1 and "?t=" + TOKEN not in out


def test_haproxy_access_log_goes_to_a_socket_nobody_binds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("RAY_SERVE_")]:
        monkeypatch.delenv(name)
    proxy.isolate_haproxy()
    target = Path(os.environ["RAY_SERVE_HAPROXY_LOG_TARGET"])
    private = target.parent
    assert private == Path(os.environ["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"]).parent
    assert stat.S_IMODE(private.stat().st_mode) == 0o700  # only this user could bind it
    assert not target.exists()
    private.rmdir()


def test_an_operator_log_target_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_SERVE_HAPROXY_LOG_TARGET", "/dev/log")
    for name in [n for n in os.environ if n.startswith("RAY_SERVE_") and "LOG" not in n]:
        monkeypatch.delenv(name)
    proxy.isolate_haproxy()
    assert os.environ["RAY_SERVE_HAPROXY_LOG_TARGET"] == "/dev/log"
    Path(os.environ["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"]).parent.rmdir()


def test_ray_token_auth_is_not_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setattr(proxy, "haproxy_usable", lambda: False)
    proxy.choose_proxy(Settings(haproxy=False))
    assert "RAY_AUTH_MODE" not in os.environ  # ray.init() of a new cluster turns token auth on


@pytest.mark.parametrize("operator_value", [None, "1"])
def test_serve_runs_the_ingress_on_the_replica_loop_unless_the_operator_says(
    monkeypatch: pytest.MonkeyPatch, operator_value: str | None
) -> None:
    name = "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD"
    monkeypatch.delenv(name, raising=False)
    if operator_value is not None:
        monkeypatch.setenv(name, operator_value)
    monkeypatch.setattr(proxy, "haproxy_usable", lambda: False)
    proxy.choose_proxy(Settings(haproxy=False))
    assert os.environ[name] == (operator_value or "0")


@pytest.mark.parametrize("secret", [None, "x" * 31])
def test_prod_refuses_to_start_without_a_long_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secret: str | None
) -> None:
    monkeypatch.setenv("RAYCHAT_PROFILE", "prod")
    monkeypatch.delenv("RAYCHAT_JWT_SECRET", raising=False)
    if secret is not None:
        monkeypatch.setenv("RAYCHAT_JWT_SECRET", secret)
    assert cli.main(["serve"]) == 2  # before any database or Ray is touched
    err = capsys.readouterr().err
    assert "refusing to start" in err and "RAYCHAT_JWT_SECRET" in err
    assert "32 bytes" in err
